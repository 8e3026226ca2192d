"""The task page lists each failed attempt's error, escaped, with its traceback."""

from __future__ import annotations

from flask import Flask
from sqlalchemy.engine import Engine

import queue_core
from queue_core import Failure

from .test_auth import login


def test_the_task_page_lists_every_failed_attempt(
    app: Flask, manage_key: str, engine: Engine
) -> None:
    with engine.begin() as conn:
        task = queue_core.enqueue(conn, "send_email", {}, queue="emails", max_attempts=2)
    for attempt in (1, 2):
        with engine.begin() as conn:
            [claimed] = queue_core.claim(conn, ["emails"], 1, worker_id="w")
            message = f"<smtp> refused attempt {attempt}"
            queue_core.fail(conn, Failure(claimed.lease, "OSError", message, f"tb {attempt}"))
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE taskrow.tasks SET run_at = now() WHERE state = 'queued'")
    client = app.test_client()
    login(client, manage_key)
    page = client.get(f"/dashboard/tasks/{task.id}").text
    assert 'id="errors"' in page and page.count('class="attempt-error"') == 2
    assert "&lt;smtp&gt; refused attempt 1" in page and "&lt;smtp&gt; refused attempt 2" in page
    assert "<smtp>" not in page and "tb 1" in page
