"""Which queue a task lands on, and a queue nobody consumes: with real `taskrow api`, `taskrow
worker` and `taskrow stats` processes.

- TASKROW_TASK_ROUTES sends an HTTP enqueue without `queue` to its task's queue;
- every running worker announces its queues, so GET /v1/queues, `taskrow stats` and /metrics
  flag a queue that holds queued tasks no live worker consumes.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

import queue_core

from ..api.conftest import bearer, running_server
from ..support import wait_for
from ..worker.conftest import ROOT, WorkerProcess

pytestmark = pytest.mark.slow  # end to end: gunicorn and worker processes

TIMEOUT = 60
WORKER = ["--app", "tests.e2e.readme_tasks", "--queues", "emails", "--poll-only"]


def stats(db_url: str, *args: str) -> str:
    env = {"TASKROW_DATABASE_URL": db_url, "PATH": ""}
    command = [sys.executable, "-m", "taskrow.cli", "stats", *args]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return done.stdout


def test_routes_send_an_enqueue_without_queue_to_the_tasks_queue(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    with engine.begin() as conn:
        token = queue_core.create_key(conn).token
    worker = WorkerProcess(db_url, tmp_path / "worker.log", [*WORKER, "--poll-interval", "0.1"])
    try:
        routes = "send_email=emails, reports.refresh = reports"
        with running_server(db_url, tmp_path, env={"TASKROW_TASK_ROUTES": routes}) as server:
            body = {"task": "send_email", "args": {"to": "ada@example.com", "subject": "Hi"}}
            routed = server.post("/v1/tasks", json=body, headers=bearer(token))
            assert routed.status_code == 202 and routed.json()["queue"] == "emails"
            explicit = server.post(
                "/v1/tasks", json={**body, "queue": "default"}, headers=bearer(token)
            )
            assert explicit.json()["queue"] == "default"
            other = server.post("/v1/tasks", json={"task": "other"}, headers=bearer(token))
            assert other.json()["queue"] == "default"
            batch = server.post(
                "/v1/tasks/batch",
                json={"tasks": [body, {"task": "reports.refresh"}]},
                headers=bearer(token),
            )
            assert [t["queue"] for t in batch.json()["tasks"]] == ["emails", "reports"]
            url = routed.headers["Location"]
            wait_for(
                lambda: server.get(url, headers=bearer(token)).status_code == 303,
                timeout=TIMEOUT,
                what="the routed task to be run by the worker of the queue emails",
            )
    finally:
        worker.kill()


def test_a_bad_route_is_a_one_line_error_at_start(db_url: str) -> None:
    env = {"TASKROW_DATABASE_URL": db_url, "TASKROW_TASK_ROUTES": "send_email", "PATH": ""}
    command = [sys.executable, "-m", "taskrow.cli", "api", "--bind", "127.0.0.1:0"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr  # a configuration error
    assert done.stderr.strip() == "Error: TASKROW_TASK_ROUTES: 'send_email' is not task=queue"


def test_a_queue_no_live_worker_consumes_is_flagged(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    with engine.begin() as conn:
        token = queue_core.create_key(conn).token
        operator = queue_core.create_operator_key(conn).token  # /metrics spans every tenant
        queue_core.enqueue(conn, "send_email", {"to": "a", "subject": "s"})  # default: nobody
        queue_core.enqueue(conn, "later", {}, queue="emails", delay=3600)
    worker = WorkerProcess(db_url, tmp_path / "worker.log", WORKER)
    try:
        worker.wait_log("worker.started", timeout=TIMEOUT)
        with running_server(db_url, tmp_path) as server:
            wait_for(
                lambda: _queues(server, token)["emails"]["workers"] == 1,
                timeout=TIMEOUT,
                what="the worker's announcement",
            )
            queues = _queues(server, token)
            assert queues["default"]["workers"] == 0 and queues["default"]["unserved"] is True
            assert queues["emails"]["unserved"] is False
            metrics = server.get("/metrics", headers=bearer(operator)).text
            assert 'taskrow_queue_workers{queue="default"} 0.0' in metrics
            assert 'taskrow_queue_workers{queue="emails"} 1.0' in metrics
            text = stats(db_url)
            assert "WORKERS" in text.splitlines()[0]
            warning = "warning: queue default holds 1 queued task(s) but no live worker"
            assert warning in text and "queue emails holds" not in text
            document = json.loads(stats(db_url, "--json"))
            by_queue = {q["queue"]: q for q in document["queues"]}
            assert by_queue["default"]["unserved"] and by_queue["emails"]["workers"] == 1
            worker.process.send_signal(signal.SIGTERM)  # a clean stop deletes its row
            assert worker.wait_exit(timeout=TIMEOUT) == 0
            assert _queues(server, token)["emails"]["workers"] == 0
    finally:
        worker.kill()


def _queues(server: object, token: str) -> dict[str, dict[str, object]]:
    response = server.get("/v1/queues", headers=bearer(token))  # type: ignore[attr-defined]
    return {q["queue"]: q for q in response.json()["queues"]}


def test_the_documented_announcement_timings() -> None:
    """docs/api.md: refreshed every 10 s, no longer counted 60 s after the last refresh."""
    assert (queue_core.ANNOUNCE_INTERVAL, queue_core.LIVE_SECONDS) == (10.0, 60.0)
