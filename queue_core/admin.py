"""Operator actions and reads: get, list, cancel, retry, stats, prune.

``tenant=None`` means every tenant (operators and the CLI); the HTTP API always passes the
caller's tenant, so another tenant's task behaves as if it did not exist.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.engine import Engine

from . import sql, validation
from .db import Executor, run, transaction
from .errors import InvalidTaskError, InvalidTransition, TaskNotFound
from .models import QueueStats, Task, TaskState
from .schema import DEFAULT_SCHEMA, notify_channel
from .steps import Steps, drive

MAX_PAGE = 1000


def get(
    executor: Executor,
    task_id: uuid.UUID | str,
    *,
    tenant: str | None = None,
    schema: str = DEFAULT_SCHEMA,
) -> Task:
    """The task, or :class:`TaskNotFound` (also for another tenant's task)."""
    return drive(executor, get_steps(task_id, tenant=tenant, schema=schema))


def get_steps(task_id: uuid.UUID | str, *, tenant: str | None, schema: str) -> Steps[Task]:
    """:func:`get` as steps (queue_core.steps), for the sync and async API alike."""
    tid = parse_id(task_id)
    rows = (yield sql.for_schema(schema).get, {"id": tid, "tenant": tenant}).rows
    row = rows[0] if rows else None
    if row is None:
        raise TaskNotFound(tid)
    return Task.from_row(row)


def list_tasks(
    executor: Executor,
    *,
    tenant: str | None = None,
    queue: str | None = None,
    state: TaskState | str | None = None,
    before: tuple[datetime, uuid.UUID] | None = None,
    limit: int = 50,
    schema: str = DEFAULT_SCHEMA,
) -> list[Task]:
    """Tasks newest first. Pass the last task's ``(created_at, id)`` as ``before`` for the next
    page (keyset pagination: stable under concurrent inserts)."""
    params = {
        "tenant": tenant,
        "queue": None if queue is None else validation.queue_name(queue),
        "state": None if state is None else parse_state(state).value,
        "before_created": None if before is None else before[0],
        "before_id": None if before is None else before[1],
        "limit": validation.integer(limit, "limit", 1, MAX_PAGE),
    }
    return [Task.from_row(r) for r in run(executor, sql.for_schema(schema).list, params)]


def cancel(
    executor: Executor,
    task_id: uuid.UUID | str,
    *,
    tenant: str | None = None,
    schema: str = DEFAULT_SCHEMA,
) -> Task:
    """Cancel a task: a queued one at once (``cancelled``), a running one by request (it stays
    ``running`` with ``cancel_requested`` until its worker sees the flag at its next heartbeat).

    Raises :class:`InvalidTransition` for a finished task, :class:`TaskNotFound` if absent.
    """
    tid = parse_id(task_id)
    row = run(executor, sql.for_schema(schema).cancel, {"id": tid, "tenant": tenant}).first()
    if row is None:
        current = get(executor, tid, tenant=tenant, schema=schema)
        raise InvalidTransition(tid, current.state, "cancel")
    return Task.from_row(row)


def retry(
    executor: Executor,
    task_id: uuid.UUID | str,
    *,
    tenant: str | None = None,
    schema: str = DEFAULT_SCHEMA,
) -> Task:
    """Re-drive a dead task: queued again, due now, with its attempts starting over.

    Raises :class:`InvalidTransition` unless the task is dead.
    """
    tid = parse_id(task_id)
    stmts = sql.for_schema(schema)
    row = run(executor, stmts.redrive, {"id": tid, "tenant": tenant}).first()
    if row is None:
        current = get(executor, tid, tenant=tenant, schema=schema)
        raise InvalidTransition(tid, current.state, "retry")
    task = Task.from_row(row)
    run(executor, stmts.notify, {"channel": notify_channel(schema), "queue": task.queue})
    return task


def retry_queue(
    executor: Executor, queue: str, *, tenant: str | None = None, schema: str = DEFAULT_SCHEMA
) -> int:
    """Re-drive every dead task of a queue; returns how many."""
    stmts = sql.for_schema(schema)
    params = {"queue": validation.queue_name(queue), "tenant": tenant}
    count = int(run(executor, stmts.redrive_queue, params).scalar_one())
    if count:
        run(executor, stmts.notify, {"channel": notify_channel(schema), "queue": queue})
    return count


def stats(
    executor: Executor, *, tenant: str | None = None, schema: str = DEFAULT_SCHEMA
) -> list[QueueStats]:
    """Counts per queue and state, and the age in seconds of each queue's oldest due task."""
    rows = run(executor, sql.for_schema(schema).stats, {"tenant": tenant})
    by_queue: dict[str, QueueStats] = {}
    for row in rows:
        entry = by_queue.setdefault(
            row.queue, QueueStats(row.queue, dict.fromkeys(TaskState, 0), None)
        )
        entry.counts[TaskState(row.state)] = int(row.n)
        if row.oldest_due_age is not None:
            by_queue[row.queue] = QueueStats(row.queue, entry.counts, float(row.oldest_due_age))
    return list(by_queue.values())


def prune(
    executor: Executor,
    *,
    older_than: float,
    batch_size: int = 1000,
    schema: str = DEFAULT_SCHEMA,
) -> int:
    """Delete at most ``batch_size`` tasks finished more than ``older_than`` seconds ago (the
    oldest first); returns how many. See :func:`prune_all` to delete everything due."""
    params = {
        "older_than": validation.seconds(older_than, "older_than"),
        "batch_size": validation.integer(batch_size, "batch_size", 1, 100_000),
    }
    return run(executor, sql.for_schema(schema).prune, params).rowcount


def prune_all(
    engine: Engine, *, older_than: float, batch_size: int = 1000, schema: str = DEFAULT_SCHEMA
) -> int:
    """Prune in bounded batches, one short transaction each, until nothing is due."""
    total = 0
    while True:
        with transaction(engine) as conn:
            deleted = prune(conn, older_than=older_than, batch_size=batch_size, schema=schema)
        total += deleted
        if deleted < batch_size:
            return total


def database_now(executor: Executor, *, schema: str = DEFAULT_SCHEMA) -> datetime:
    """The database's clock (``clock_timestamp()``): what schedules are computed by."""
    value: datetime = run(executor, sql.for_schema(schema).now, {}).scalar_one()
    return value


def parse_id(value: uuid.UUID | str) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise TaskNotFound(str(value)[:64]) from exc


def parse_state(value: TaskState | str) -> TaskState:
    try:
        return TaskState(value)
    except ValueError as exc:
        names = ", ".join(s.value for s in TaskState)
        raise InvalidTaskError("state", f"{str(value)[:40]!r} is not one of {names}") from exc
