"""The real commands on a URL naming a dead host first and the live one second (libpq's
``h1:p1,h2:p2`` form, with ``target_session_attrs=read-write``): ``taskrow migrate``, ``taskrow
api`` and ``taskrow worker`` (its rounds and its LISTEN wake-ups) all find the live server. A
malformed URL is one line on stderr and a usage exit, from every command, before any connection.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

import queue_core
from queue_core import TaskState, migrations

from ..api.conftest import bearer, running_server
from ..cli.conftest import TASKROW, Cli, base_env, collect
from ..core.test_urls import dead_port, hosts_url
from ..support import wait_for
from ..worker.conftest import STARTUP_TIMEOUT, TIMEOUT, WorkerProcess

pytestmark = pytest.mark.slow  # a primary and a standby, switched under a worker

READ_WRITE = "?target_session_attrs=read-write"


def dead_first(db_url: str) -> str:
    live = sa.make_url(db_url).port
    assert live is not None
    return hosts_url(db_url, [dead_port(), live], query=READ_WRITE)


def test_migrate_on_a_dead_host_first(empty_db_url: str) -> None:
    result = Cli({**base_env(), "TASKROW_DATABASE_URL": dead_first(empty_db_url)}).run("migrate")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    engine = queue_core.create_engine(empty_db_url, pool_size=1)
    try:
        assert migrations.current_revision(engine) == migrations.head_revision()
    finally:
        engine.dispose()


def test_api_and_worker_on_a_dead_host_first(db_url: str, engine: Engine, tmp_path: Path) -> None:
    url = dead_first(db_url)
    with engine.begin() as conn:
        token = queue_core.create_key(conn, tenant="ha").token
    worker = WorkerProcess(
        url, tmp_path / "worker.log", ["--app", "tests.worker.handlers", "--queues", "default"]
    )
    try:
        worker.wait_log("worker.started", timeout=STARTUP_TIMEOUT)
        worker.wait_log("listener.connected", timeout=TIMEOUT)  # LISTEN found the live host
        with running_server(url, tmp_path) as api:
            body = {"task": "echo", "args": {"n": 1}}
            answer = api.post("/v1/tasks", json=body, headers=bearer(token))
            assert answer.status_code == 202, answer.text
            task_id = answer.json()["id"]
            wait_for(
                lambda: (
                    api.get(f"/v1/tasks/{task_id}", headers=bearer(token)).json()["state"]
                    == "succeeded"
                ),
                timeout=TIMEOUT,
                what="the worker to run the task enqueued over HTTP",
            )
        with engine.connect() as conn:
            assert queue_core.get(conn, task_id).state is TaskState.SUCCEEDED
        assert "listener.connect_failed" not in worker.text()
    finally:
        worker.kill()


MALFORMED = "postgresql://postgres:hunter2@127.0.0.1:5432,127.0.0.1:54x/postgres"


@pytest.mark.parametrize(
    "command",
    [
        ["migrate"],
        ["api", "--bind", "127.0.0.1:0"],
        ["worker", "--app", "tests.worker.handlers", "--burst"],
        ["stats"],
    ],
)
def test_a_malformed_url_is_a_usage_error_from_every_command(command: list[str]) -> None:
    env = {**base_env(), "TASKROW_DATABASE_URL": MALFORMED}
    process = subprocess.Popen(
        [str(TASKROW), *command],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    [result] = collect([process])
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "Error: TASKROW_DATABASE_URL: bad port '54x' for host 2 (127.0.0.1)" in result.stderr, (
        result.stderr
    )
    assert "hunter2" not in result.stderr + result.stdout
