"""Small helpers for the queue core tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

import queue_core
from queue_core import Task


def count_tasks(engine: Engine, where: str = "true", **params: Any) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text(f"SELECT count(*) FROM taskrow.tasks WHERE {where}"), params
            ).scalar_one()
        )


def enqueue(engine: Engine, task: str = "t", **kwargs: Any) -> Task:
    with engine.begin() as conn:
        return queue_core.enqueue(conn, task, **kwargs)


def claim(
    engine: Engine, n: int = 1, queues: Sequence[str] = ("default",), **kw: Any
) -> list[Task]:
    kw.setdefault("worker_id", "test-worker")
    with engine.begin() as conn:
        return queue_core.claim(conn, list(queues), n, **kw)


def get(engine: Engine, task_id: object) -> Task:
    with engine.connect() as conn:
        return queue_core.get(conn, task_id)  # type: ignore[arg-type]


def expire_leases(engine: Engine) -> None:
    """Move every running task's lease expiry into the past (as if its worker had stalled)."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE taskrow.tasks SET run_at = now() - interval '1 second'"
                " WHERE state = 'running'"
            )
        )


def make_due(engine: Engine) -> None:
    """Bring every queued task's run_at to the past (skip a backoff)."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE taskrow.tasks SET run_at = now() - interval '1 second'"
                " WHERE state = 'queued'"
            )
        )
