"""A database that was never migrated, or whose tables vanish, is a setup mistake and is named
as one: the worker and `taskrow api` refuse to start with "run `taskrow migrate`", and a running
API answers 503 with the problem type schema-not-migrated and no Retry-After."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

import queue_core

from ..api.conftest import bearer, running_server
from ..worker.conftest import ROOT, WorkerProcess

pytestmark = pytest.mark.slow  # end to end: gunicorn and a worker process

NOT_MIGRATED = "urn:taskrow:problem:schema-not-migrated"
TIMEOUT = 60


def one_line_error(output: str) -> str:
    assert "Traceback" not in output, output
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), output
    return lines[0]


def test_the_worker_refuses_an_unmigrated_database(empty_db_url: str, tmp_path: Path) -> None:
    worker = WorkerProcess(
        empty_db_url, tmp_path / "worker.log", ["--app", "tests.worker.handlers"]
    )
    try:
        code = worker.wait_exit(timeout=TIMEOUT)
    finally:
        worker.kill()
    assert code == 1
    message = one_line_error(worker.text())
    assert "never migrated" in message and message.endswith("run `taskrow migrate`")


def test_the_api_refuses_an_unmigrated_database(empty_db_url: str) -> None:
    env = {"TASKROW_DATABASE_URL": empty_db_url, "PATH": ""}
    command = [sys.executable, "-m", "taskrow.cli", "api", "--bind", "127.0.0.1:0"]
    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert result.returncode == 1
    assert one_line_error(result.stderr).endswith("run `taskrow migrate`")


def test_the_worker_refuses_a_schema_behind_the_code(db_url: str, tmp_path: Path) -> None:
    engine = queue_core.create_engine(db_url)
    try:
        queue_core.migrations.downgrade(engine, "0002")
    finally:
        engine.dispose()
    worker = WorkerProcess(db_url, tmp_path / "worker.log", ["--app", "tests.worker.handlers"])
    try:
        assert worker.wait_exit(timeout=TIMEOUT) == 1
    finally:
        worker.kill()
    assert "at revision 0002" in one_line_error(worker.text())


def test_a_running_api_says_so_when_the_tables_vanish(
    db_url: str, tmp_path: Path, engine: sa.Engine
) -> None:
    with engine.begin() as conn:
        token = queue_core.create_key(conn).token
    with running_server(db_url, tmp_path) as server:
        assert server.get("/readyz").status_code == 200
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA taskrow CASCADE")
        for response in (
            server.post("/v1/tasks", json={"task": "t"}, headers=bearer(token)),
            server.get("/v1/queues", headers=bearer(token)),
            server.get("/readyz"),
        ):
            assert response.status_code == 503, response.text
            assert "Retry-After" not in response.headers
            problem = response.json()
            assert problem["type"] == NOT_MIGRATED, problem
            assert problem["detail"].endswith("run `taskrow migrate`")


def test_a_running_worker_logs_what_to_do_when_the_tables_vanish(
    db_url: str, tmp_path: Path, engine: sa.Engine
) -> None:
    args = ["--app", "tests.worker.handlers", "--queues", "default", "--poll-only"]
    worker = WorkerProcess(db_url, tmp_path / "worker.log", [*args, "--poll-interval", "0.1"])
    try:
        worker.wait_log("worker.started", timeout=TIMEOUT)
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA taskrow CASCADE")
        worker.wait_log("database.schema_not_migrated", timeout=TIMEOUT)
    finally:
        worker.kill()
    line = next(x for x in worker.text().splitlines() if "database.schema_not_migrated" in x)
    assert "ERROR" in line and "run `taskrow migrate`" in line
    assert "database.unavailable" not in worker.text()
