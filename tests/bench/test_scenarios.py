"""Each ``taskrow bench`` scenario runs at a tiny size and prints well-formed figures.

No timing is asserted: the figures of a shared machine say nothing in a test. Peers and the
ceiling (``--compare``, the RQ endpoint) need the benchmark venv and are not run here.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from click.testing import CliRunner

from taskrow.cli import main

from ..support import PostgresServer

pytestmark = pytest.mark.slow  # runs the benchmark scenarios

TINY = ["--repeat", "1", "--layout", "1x4"]
CASES = {
    "async-drain": ["--tasks", "60", *TINY],
    "async-latency": ["--rate", "20", "--seconds", "2", "--threads", "2"],
    "io-bound": ["--tasks", "40", *TINY],
    "drain": ["--tasks", "60", *TINY],
    "enqueue-bulk": ["--tasks", "300", "--batch", "100", "--repeat", "1"],
    "latency": ["--rate", "20", "--seconds", "2", "--threads", "2"],
    "history": ["--tasks", "40", "--finished", "500", "--future", "50", *TINY],
    "memory": ["--tasks", "200", "--threads", "2"],
    "enqueue-http": [
        "--seconds",
        "1",
        "--connections",
        "2",
        "--http-layouts",
        "1x2,granian:1x2",
        "--no-rq",
    ],
    "pooler": [
        "--tasks",
        "60",
        *TINY,
        "--seconds",
        "1",
        "--connections",
        "2",
        "--http-layouts",
        "1x2",
    ],
}
EXPECTED = {
    "async-drain": ["taskrow_1x4_tasks_per_s", "taskrow_best_tasks_per_s"],
    "async-latency": ["taskrow_p50_ms", "taskrow_p99_ms", "taskrow_max_ms"],
    "io-bound": ["async_tasks_per_s", "threads_tasks_per_s", "ratio_async_to_threads"],
    "drain": ["taskrow_1x10_tasks_per_s", "taskrow_1x4_tasks_per_s", "taskrow_best_tasks_per_s"],
    "enqueue-bulk": [
        "taskrow_rows_per_s",
        "taskrow_ids_rows_per_s",
        "taskrow_ids_parallel_rows_per_s",
    ],
    "latency": ["taskrow_p50_ms", "taskrow_p99_ms", "taskrow_max_ms"],
    "history": ["empty_tasks_per_s", "history_tasks_per_s", "ratio"],
    "memory": ["baseline_mib", "final_mib", "growth_mib"],
    "enqueue-http": [
        "taskrow_req_per_s",
        "taskrow_1x2_req_per_s",
        "taskrow_1x2_p50_ms",
        "taskrow_1x2_p99_ms",
        "taskrow_1x2_errors",
        "taskrow_granian_1x2_req_per_s",
        "taskrow_granian_1x2_p99_ms",
    ],
    "pooler": ["drain_none_tasks_per_s", "drain_transaction_tasks_per_s", "http_ratio"],
}


def run_bench(server: PostgresServer, scenario: str, *args: str) -> Any:
    result = CliRunner().invoke(
        main, ["bench", scenario, *args], env={"TASKROW_DATABASE_URL": server.url}
    )
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("scenario", sorted(CASES))
def test_scenario_prints_json_figures(pg_server: PostgresServer, scenario: str) -> None:
    document = json.loads(run_bench(pg_server, scenario, "--json", *CASES[scenario]))
    assert document["scenario"] == scenario
    assert document["machine"]["cpus"] >= 1
    for key in EXPECTED[scenario]:
        value = document["figures"][key]
        assert isinstance(value, int | float) and math.isfinite(value), (key, value)
    rates = [v for k, v in document["figures"].items() if k.endswith("_per_s")]
    assert all(rate > 0 for rate in rates), document["figures"]


def test_table_names_each_figure(pg_server: PostgresServer) -> None:
    table = run_bench(pg_server, "enqueue-bulk", "--tasks", "50", "--batch", "50", "--repeat", "1")
    assert table.startswith("taskrow bench enqueue-bulk")
    assert "rows/s" in table


def test_bad_layout_is_a_usage_error(pg_server: PostgresServer) -> None:
    result = CliRunner().invoke(
        main, ["bench", "drain", "--layout", "two"], env={"TASKROW_DATABASE_URL": pg_server.url}
    )
    assert result.exit_code == 2
    assert "PROCESSESxTHREADS" in result.output
