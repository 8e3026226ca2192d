"""Which queues the running workers consume: each worker announces itself while it runs.

A worker upserts its row (its queues and the task names it has handlers for) at start and
every :data:`ANNOUNCE_INTERVAL` seconds, and deletes it when it stops. A worker counts as live
while its row was refreshed within :data:`LIVE_SECONDS`, so a killed worker stops counting a
minute later. Readers use :func:`queue_consumers` to flag a queue that holds queued tasks no
live worker consumes (they would wait forever, with no error).
"""

from __future__ import annotations

from collections.abc import Iterable

from . import sql, validation
from .db import Executor, run
from .schema import DEFAULT_SCHEMA

#: How often a running worker refreshes its row, and how long a row counts as live after that.
ANNOUNCE_INTERVAL = 10.0
LIVE_SECONDS = 60.0
#: Rows of workers that vanished without deleting theirs are removed after this long.
FORGET_SECONDS = 86400.0


def announce_worker(
    executor: Executor,
    worker_id: str,
    queues: Iterable[str],
    tasks: Iterable[str],
    *,
    schema: str = DEFAULT_SCHEMA,
) -> None:
    """Record (or refresh) a running worker's queues and task names."""
    params = {
        "id": validation.text(worker_id, "worker_id", max_length=200),
        "queues": sorted({validation.queue_name(q, "queues") for q in queues}),
        "tasks": sorted(set(tasks)),
        "forget_seconds": FORGET_SECONDS,
    }
    run(executor, sql.for_schema(schema).worker_announce, params)


def retire_worker(executor: Executor, worker_id: str, *, schema: str = DEFAULT_SCHEMA) -> None:
    """Forget a worker that stops."""
    run(executor, sql.for_schema(schema).worker_retire, {"id": worker_id})


def queue_consumers(executor: Executor, *, schema: str = DEFAULT_SCHEMA) -> dict[str, int]:
    """How many live workers consume each queue (a queue no live worker consumes is absent)."""
    rows = run(executor, sql.for_schema(schema).queue_consumers, {"live_seconds": LIVE_SECONDS})
    return {row.queue: int(row.n) for row in rows}


def notify_queue_usage(executor: Executor) -> float:
    """The fraction (0 to 1) of the cluster's notification queue in use
    (``pg_notification_queue_usage()``)."""
    return float(run(executor, sql.for_schema(DEFAULT_SCHEMA).notify_queue_usage, {}).scalar_one())
