"""`taskrow worker` as a command: burst mode, JSON logs, exit codes, one-line errors."""

from __future__ import annotations

import functools
import json

import pytest
import requests
from sqlalchemy.engine import Engine

from queue_core import Task, TaskState
from taskrow.embedded import free_port

from ..support import wait_for
from .conftest import TIMEOUT, StartWorker, enqueue, fetch


def test_burst_drains_then_exits_zero_with_json_logs(
    engine: Engine, start_worker: StartWorker
) -> None:
    tasks = [enqueue(engine, "echo", {"i": i}) for i in range(30)]
    dead = enqueue(engine, "refuse")
    proc = start_worker("--burst", "--poll-only", "--concurrency", "4", "--log-format", "json")
    assert proc.wait_exit(timeout=TIMEOUT) == 0
    assert all(fetch(engine, t).state is TaskState.SUCCEEDED for t in tasks)
    assert fetch(engine, dead).state is TaskState.DEAD
    lines = [json.loads(line) for line in proc.text().splitlines()]
    events = {(line.get("event"), line.get("task_id")) for line in lines}
    assert ("task.succeeded", str(tasks[0].id)) in events
    assert ("task.dead", str(dead.id)) in events
    done = next(x for x in lines if x.get("event") == "task.dead")
    assert (done["task"], done["attempt"], done["error_type"]) == ("refuse", 1, "Fail")
    assert isinstance(done["duration"], float)


def test_async_commit_is_opt_in_and_still_records_every_outcome(
    engine: Engine, start_worker: StartWorker
) -> None:
    tasks = [enqueue(engine, "echo", {"i": i}) for i in range(10)]
    proc = start_worker("--burst", "--async-commit")
    assert proc.wait_exit(timeout=TIMEOUT) == 0
    assert "commit=async" in proc.text()
    assert all(fetch(engine, t).state is TaskState.SUCCEEDED for t in tasks)
    assert "commit=durable" in start_worker("--burst").text()


def test_an_app_that_does_not_import_is_a_one_line_error(start_worker: StartWorker) -> None:
    proc = start_worker(app="tests.worker.no_such_module", ready=False)
    assert proc.wait_exit() == 1
    assert proc.text().strip() == "Error: cannot import 'tests.worker.no_such_module': " + (
        "No module named 'tests.worker.no_such_module'"
    )


def test_an_invalid_queue_name_is_a_usage_error(start_worker: StartWorker) -> None:
    proc = start_worker("--queues", "Not A Queue", "--burst", ready=False)
    assert proc.wait_exit() == 2
    assert "Traceback" not in proc.text()
    assert "queues: 'Not A Queue' is not a valid name" in proc.text()


def test_successes_beyond_the_line_rate_are_counted_in_one_line(
    engine: Engine, start_worker: StartWorker
) -> None:
    tasks = [enqueue(engine, "echo", {"i": i}) for i in range(40)]
    dead = enqueue(engine, "refuse")
    proc = start_worker("--burst", "--poll-only", "--success-lines", "0", "--log-format", "json")
    assert proc.wait_exit(timeout=TIMEOUT) == 0
    assert all(fetch(engine, t).state is TaskState.SUCCEEDED for t in tasks)
    lines = [json.loads(line) for line in proc.text().splitlines()]
    assert not [x for x in lines if x.get("event") == "task.succeeded"]
    counts = [x for x in lines if x.get("event") == "task.succeeded_count"]
    assert sum(x["count"] for x in counts) == 40
    assert all(x["seconds"] >= 0 for x in counts)
    assert [x["task_id"] for x in lines if x.get("event") == "task.dead"] == [str(dead.id)]


def test_every_success_has_its_line_with_success_lines_all(
    engine: Engine, start_worker: StartWorker
) -> None:
    tasks = [enqueue(engine, "echo", {"i": i}) for i in range(150)]
    proc = start_worker("--burst", "--poll-only", "--success-lines", "all", "--log-format", "json")
    assert proc.wait_exit(timeout=TIMEOUT) == 0
    lines = [json.loads(line) for line in proc.text().splitlines()]
    logged = {x["task_id"] for x in lines if x.get("event") == "task.succeeded"}
    assert logged == {str(t.id) for t in tasks}
    assert not [x for x in lines if x.get("event") == "task.succeeded_count"]


@pytest.mark.parametrize("lines", ["100", "0"])
def test_metrics_count_transitions(engine: Engine, start_worker: StartWorker, lines: str) -> None:
    """Successes counted instead of logged one by one (``--success-lines 0``) count alike."""
    port = free_port()
    tasks = [enqueue(engine, "echo", {"i": i}) for i in range(3)]
    start_worker("--metrics-port", str(port), "--success-lines", lines)
    for task in tasks:
        wait_for(functools.partial(succeeded, engine, task), timeout=TIMEOUT)

    def scraped() -> str:
        return requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text

    line = 'taskrow_worker_tasks_total{event="succeeded",task="echo"} 3.0'
    wait_for(lambda: line in scraped(), timeout=TIMEOUT, what=line)
    assert "taskrow_worker_tasks_in_flight 0.0" in scraped()
    assert 'taskrow_worker_task_duration_seconds_count{task="echo"} 3.0' in scraped()


def succeeded(engine: Engine, task: Task) -> bool:
    return fetch(engine, task).state is TaskState.SUCCEEDED
