"""Making tasks in given states, and reading forms out of pages."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.engine import Engine

import queue_core
from queue_core import Failure, Task

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def dead_task(engine: Engine, *, queue: str = "emails", tenant: str = "default") -> Task:
    """A task that failed its only attempt with a ValueError."""
    with engine.begin() as conn:
        queue_core.enqueue(
            conn, "send_email", {"to": "a@example.com"}, queue=queue, max_attempts=1, tenant=tenant
        )
    with engine.begin() as conn:
        [task] = queue_core.claim(conn, [queue], 1, worker_id="test-worker")
        queue_core.fail(
            conn,
            Failure(
                task.lease,
                "ValueError",
                "mailbox <a@example.com> does not exist",
                'Traceback (most recent call last):\n  File "handlers.py", line 7\n'
                "ValueError: mailbox does not exist",
                retryable=False,
            ),
        )
    with engine.begin() as conn:
        return queue_core.get(conn, task.id)


def queued_task(engine: Engine, *, queue: str = "emails", **options: Any) -> Task:
    """A send_email task on ``queue``; ``options`` are more keywords of queue_core.enqueue."""
    with engine.begin() as conn:
        return queue_core.enqueue(
            conn, "send_email", {"to": "b@example.com"}, queue=queue, **options
        )


def state_of(engine: Engine, task: Task) -> str:
    with engine.begin() as conn:
        return queue_core.get(conn, task.id).state.value


def csrf_token(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "the page has no CSRF field"
    return found.group(1)
