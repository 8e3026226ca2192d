"""/metrics: queue depth and oldest due age from the database, enqueue counts, request latency."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from sqlalchemy.engine import Engine

import queue_core

from ..support import wait_for
from .conftest import CheckedSession, MakeKey, bearer, running_server


def _sample(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match and ",".join(sorted(match.group(1).split(","))) == wanted:
            return float(match.group(2))
    raise AssertionError(f"no sample {name}{{{wanted}}} in:\n{text}")


def test_metrics_report_queues_enqueues_and_requests(
    client: FlaskClient, make_key: MakeKey, engine: Engine
) -> None:
    manager = make_key(scopes=["enqueue", "read", "manage"])
    with engine.begin() as conn:
        operator = queue_core.create_operator_key(conn).token
    before = client.get("/metrics", headers=bearer(operator))
    assert before.status_code == 200 and before.content_type.startswith("text/plain")
    enqueued_before = _enqueued(before.get_data(as_text=True))
    for _ in range(3):
        assert (
            client.post(
                "/v1/tasks", json={"task": "t", "queue": "mail"}, headers=bearer(manager)
            ).status_code
            == 202
        )
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE taskrow.tasks SET run_at = now() - interval '42 seconds'"))
        [claimed] = queue_core.claim(conn, ["mail"], 1, worker_id="w")
    text = client.get("/metrics", headers=bearer(operator)).get_data(as_text=True)
    assert _sample(text, "taskrow_queue_tasks", queue="mail", state="queued") == 2
    assert _sample(text, "taskrow_queue_tasks", queue="mail", state="running") == 1
    assert _sample(text, "taskrow_queue_tasks", queue="mail", state="dead") == 0
    assert 41 <= _sample(text, "taskrow_queue_oldest_due_age_seconds", queue="mail") < 120
    assert _enqueued(text) - enqueued_before == 3
    count = _sample(
        text,
        "taskrow_api_request_duration_seconds_count",
        route="/v1/tasks",
        method="POST",
        status="202",
    )
    assert count >= 3
    assert claimed.queue == "mail"


def test_metrics_need_an_operator_key(client: FlaskClient, make_key: MakeKey) -> None:
    assert client.get("/metrics").status_code == 401
    for scopes in (["read"], ["enqueue", "read", "manage"]):
        response = client.get("/metrics", headers=bearer(make_key(scopes=scopes)))
        assert response.status_code == 403 and response.content_type == "application/problem+json"


def _enqueued(text: str) -> float:
    try:
        return _sample(text, "taskrow_api_enqueued_tasks_total", queue="mail")
    except AssertionError:
        return 0.0


def test_metrics_export_the_notify_queue_usage(db_url: str, engine: Engine, tmp_path: Path) -> None:
    """``taskrow_notify_queue_usage_ratio`` on the real endpoint (gunicorn) follows
    ``pg_notification_queue_usage()``: up while a listener in an open transaction pins the
    queue, down once it lets go."""
    with engine.begin() as conn:
        operator = queue_core.create_operator_key(conn).token
    channel = f"metrics_{uuid.uuid4().hex[:8]}"
    pinning = psycopg.connect(db_url, autocommit=True)
    try:
        pinning.execute(f'LISTEN "{channel}"')
        pinning.execute("BEGIN")  # a session in a transaction reads no notifications
        pinning.execute("SELECT 1")
        with engine.begin() as conn:  # ~8 MB of notifications it holds back
            conn.execute(
                sa.text(
                    "SELECT count(pg_notify(:ch, repeat('x', 7900) || i))"
                    " FROM generate_series(1, 1000) AS i"
                ),
                {"ch": channel},
            )
        with running_server(db_url, tmp_path) as server:
            pinned = _notify_usage(server, operator)
            assert pinned > 0
            with engine.connect() as conn:
                assert pinned == pytest.approx(queue_core.notify_queue_usage(conn), abs=1e-3)
            pinning.execute("ROLLBACK")
            pinning.close()
            wait_for(
                lambda: _notify_usage(server, operator) < pinned,
                timeout=30,
                what="the gauge to fall once the listener let go",
            )
    finally:
        pinning.close()


def _notify_usage(server: CheckedSession, operator: str) -> float:
    response = server.get("/metrics", headers=bearer(operator))
    assert response.status_code == 200
    for line in response.text.splitlines():
        match = re.fullmatch(r"taskrow_notify_queue_usage_ratio (\S+)", line)
        if match:
            return float(match.group(1))
    raise AssertionError(f"no taskrow_notify_queue_usage_ratio in:\n{response.text}")
