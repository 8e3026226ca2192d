"""Why a task failed, attempt by attempt: a real worker fails a task twice, and the history
shows in the HTTP status resource (checked against the OpenAPI document) and `taskrow status`."""

from __future__ import annotations

import json
import subprocess
import sys

from sqlalchemy.engine import Engine

import api
from queue_core import TaskState

from ..api.conftest import CheckedClient, bearer, settings_for
from ..support import wait_for
from .conftest import ROOT, TIMEOUT, StartWorker, enqueue, fetch


def test_each_failed_attempt_shows_in_the_api_and_the_cli(
    db_url: str, engine: Engine, start_worker: StartWorker
) -> None:
    task = enqueue(engine, "flaky", {"failures": 2}, max_attempts=5)
    worker = start_worker("--poll-only", "--poll-interval", "0.05")
    wait_for(
        lambda: fetch(engine, task).state is TaskState.SUCCEEDED,
        timeout=TIMEOUT,
        what="the flaky task to succeed on its third attempt",
    )
    worker.kill()

    app = api.create_app(settings_for(db_url, auth_enabled=False))
    app.test_client_class = CheckedClient
    try:
        record = app.test_client().get(f"/v1/tasks/{task.id}", headers=bearer("x")).get_json()
    finally:
        app.extensions["taskrow"].engine.dispose()
    assert record["attempt"] == 3
    assert [(e["attempt"], e["type"], e["message"]) for e in record["errors"]] == [
        (1, "Retry", "failing attempt 1"),
        (2, "Retry", "failing attempt 2"),
    ]
    assert all(e["at"].endswith("Z") for e in record["errors"])

    env = {"TASKROW_DATABASE_URL": db_url, "PATH": ""}
    command = [sys.executable, "-m", "taskrow.cli", "status", str(task.id)]
    text = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    lines = [line.strip() for line in text.stdout.splitlines()]
    assert "errors    attempt 1: Retry: failing attempt 1" in lines, text.stdout
    assert "attempt 2: Retry: failing attempt 2" in lines, text.stdout
    as_json = subprocess.run(
        [*command, "--json"], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert [e["attempt"] for e in json.loads(as_json.stdout)["errors"]] == [1, 2]
