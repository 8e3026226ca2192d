"""Reads the web dashboard needs beyond the public door: recent throughput, a key by its id,
and (for an operator) every tenant's counts.

Imported as ``from queue_core import dashboard_queries``; nothing here is exported from
``queue_core`` itself. Errors are those of every queue_core read: :class:`DatabaseError`
(:class:`DatabaseUnavailable`) from the driver.
"""

from __future__ import annotations

import dataclasses

from . import sql
from .db import Executor, run
from .keys import ApiKey
from .models import FINISHED_STATES_IN_ORDER, TaskState
from .schema import DEFAULT_SCHEMA


@dataclasses.dataclass(frozen=True, slots=True)
class Throughput:
    """Tasks of one queue that reached a final state recently, per state."""

    queue: str
    last_minute: dict[TaskState, int]
    last_hour: dict[TaskState, int]


@dataclasses.dataclass(frozen=True, slots=True)
class TenantQueue:
    """One tenant's queue: tasks per state, and the age in seconds of its oldest due task."""

    tenant: str
    queue: str
    counts: dict[TaskState, int]
    oldest_due_age: float | None


def throughput(
    executor: Executor, *, tenant: str, schema: str = DEFAULT_SCHEMA
) -> list[Throughput]:
    """Per queue (sorted by name), how many of the tenant's tasks finished in the last minute
    and the last hour, by final state; queues with nothing finished in the hour are absent."""
    by_queue: dict[str, Throughput] = {}
    for row in run(executor, sql.for_schema(schema).throughput, {"tenant": tenant}):
        entry = by_queue.setdefault(row.queue, _empty(row.queue))
        entry.last_minute[TaskState(row.state)] = int(row.last_minute)
        entry.last_hour[TaskState(row.state)] = int(row.last_hour)
    return list(by_queue.values())


def tenant_counts(executor: Executor, *, schema: str = DEFAULT_SCHEMA) -> list[TenantQueue]:
    """Every tenant's queues (by tenant, then queue) with their counts: for operators only."""
    found: dict[tuple[str, str], TenantQueue] = {}
    for row in run(executor, sql.for_schema(schema).tenant_counts, {}):
        entry = found.get((row.tenant, row.queue))
        if entry is None:
            entry = TenantQueue(row.tenant, row.queue, dict.fromkeys(TaskState, 0), None)
        entry.counts[TaskState(row.state)] = int(row.n)
        if row.oldest_due_age is not None:
            entry = dataclasses.replace(entry, oldest_due_age=float(row.oldest_due_age))
        found[(row.tenant, row.queue)] = entry
    return list(found.values())


def live_key(executor: Executor, key_id: str, *, schema: str = DEFAULT_SCHEMA) -> ApiKey | None:
    """The key with this public id if it exists and is not revoked, else None."""
    row = run(executor, sql.for_schema(schema).key_live, {"key_id": str(key_id)}).first()
    return None if row is None else ApiKey.from_row(row)


def _empty(queue: str) -> Throughput:
    finished = FINISHED_STATES_IN_ORDER
    return Throughput(queue, dict.fromkeys(finished, 0), dict.fromkeys(finished, 0))
