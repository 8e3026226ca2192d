"""The queues page warns about a queue whose queued tasks no live worker consumes."""

from __future__ import annotations

from flask import Flask
from sqlalchemy.engine import Engine

import queue_core

from .test_auth import login


def test_the_queues_page_flags_a_queue_no_worker_consumes(
    app: Flask, manage_key: str, engine: Engine
) -> None:
    with engine.begin() as conn:
        queue_core.enqueue(conn, "send_email", {}, queue="emails")
        queue_core.enqueue(conn, "report", {}, queue="reports")
        queue_core.announce_worker(conn, "host:1", ["emails"], ["send_email"])
    client = app.test_client()
    login(client, manage_key)
    page = client.get("/dashboard/").text
    assert page.count('class="problem unserved"') == 1
    assert 'data-queue="reports">No live worker consumes' in page
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE taskrow.workers SET seen_at = now() - interval '61 seconds'")
    assert client.get("/dashboard/").text.count('class="problem unserved"') == 2  # stale


def test_an_unmigrated_database_is_named_on_the_page(
    app: Flask, manage_key: str, engine: Engine
) -> None:
    client = app.test_client()
    login(client, manage_key)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE taskrow.workers")
    page = client.get("/dashboard/")
    assert page.status_code == 503 and "The database is not migrated" in page.text
    assert "run `taskrow migrate`" in page.text
