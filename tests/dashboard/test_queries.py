"""queue_core.dashboard_queries on a real database: throughput windows and live keys."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

import queue_core
from queue_core import TaskState, dashboard_queries

from .helpers import dead_task


def _succeed(engine: Engine, queue: str, n: int, *, tenant: str = "default") -> list[str]:
    with engine.begin() as conn:
        for _ in range(n):
            queue_core.enqueue(conn, "t", {}, queue=queue, tenant=tenant)
    with engine.begin() as conn:
        claimed = queue_core.claim(conn, [queue], n, worker_id="w")
        for task in claimed:
            queue_core.complete(conn, task.lease, None)
    return [str(t.id) for t in claimed]


def _finished_ago(engine: Engine, task_id: str, minutes: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE taskrow.tasks SET finished_at = now() - make_interval(mins => :m) "
                "WHERE id = CAST(:id AS uuid)"
            ),
            {"m": minutes, "id": task_id},
        )


def test_throughput_counts_the_last_minute_and_hour_per_state(engine: Engine) -> None:
    _fresh, older, ancient = _succeed(engine, "emails", 3)
    _finished_ago(engine, older, 10)
    _finished_ago(engine, ancient, 90)
    dead_task(engine, queue="emails")
    _succeed(engine, "emails", 2, tenant="other")
    with engine.begin() as conn:
        [emails] = dashboard_queries.throughput(conn, tenant="default")
        [theirs] = dashboard_queries.throughput(conn, tenant="other")
    assert emails.queue == "emails"
    assert emails.last_minute == {TaskState.SUCCEEDED: 1, TaskState.DEAD: 1, TaskState.CANCELLED: 0}
    assert emails.last_hour == {TaskState.SUCCEEDED: 2, TaskState.DEAD: 1, TaskState.CANCELLED: 0}
    assert theirs.last_hour[TaskState.SUCCEEDED] == 2


def test_live_key_is_none_once_revoked(engine: Engine) -> None:
    with engine.begin() as conn:
        created = queue_core.create_key(conn, tenant="acme", scopes=["manage"], queues=["q"])
    with engine.begin() as conn:
        found = dashboard_queries.live_key(conn, created.key.id)
        assert found is not None
        assert (found.tenant, found.scopes, found.queues) == ("acme", ("manage",), ("q",))
        assert dashboard_queries.live_key(conn, "0000000000000000") is None
        queue_core.revoke_key(conn, created.key.id)
        assert dashboard_queries.live_key(conn, created.key.id) is None
