"""Which queues the running workers consume: each worker announces itself while it runs.

A worker upserts its row (its queues and the task names it has handlers for) at start and
every :data:`ANNOUNCE_INTERVAL` seconds, and deletes it when it stops. A worker counts as live
while its row was refreshed within :data:`LIVE_SECONDS`, so a killed worker stops counting a
minute later. Readers use :func:`queue_consumers` to flag a queue that holds queued tasks no
live worker consumes (they would wait forever, with no error).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable

from sqlalchemy import TextClause, text

from . import validation
from .db import Executor, run
from .schema import DEFAULT_SCHEMA, schema_name

#: How often a running worker refreshes its row, and how long a row counts as live after that.
ANNOUNCE_INTERVAL = 10.0
LIVE_SECONDS = 60.0
#: Rows of workers that vanished without deleting theirs are removed after this long.
FORGET_SECONDS = 86400.0

_ANNOUNCE = """
WITH forgotten AS (
    DELETE FROM {s}.workers WHERE seen_at < now() - make_interval(secs => :forget_seconds)
)
INSERT INTO {s}.workers AS w (id, queues, tasks)
VALUES (:id, CAST(:queues AS text[]), CAST(:tasks AS text[]))
ON CONFLICT (id) DO UPDATE SET queues = excluded.queues, tasks = excluded.tasks, seen_at = now()
"""

_RETIRE = "DELETE FROM {s}.workers WHERE id = :id"

#: The fraction (0 to 1) of the cluster's NOTIFY queue in use: a listener that stops reading
#: pins it, and once it is full every enqueue (which notifies) fails.
_NOTIFY_QUEUE_USAGE = text("SELECT pg_notification_queue_usage() AS usage")

_CONSUMERS = """
SELECT q.name AS queue, count(*) AS n
FROM {s}.workers AS w CROSS JOIN LATERAL unnest(w.queues) AS q(name)
WHERE w.seen_at >= now() - make_interval(secs => :live_seconds)
GROUP BY q.name
"""


@dataclasses.dataclass(frozen=True)
class _Statements:
    announce: TextClause
    retire: TextClause
    consumers: TextClause


@functools.cache
def _statements(schema: str) -> _Statements:
    s = '"' + schema_name(schema) + '"'
    return _Statements(
        text(_ANNOUNCE.format(s=s)), text(_RETIRE.format(s=s)), text(_CONSUMERS.format(s=s))
    )


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
    run(executor, _statements(schema).announce, params)


def retire_worker(executor: Executor, worker_id: str, *, schema: str = DEFAULT_SCHEMA) -> None:
    """Forget a worker that stops."""
    run(executor, _statements(schema).retire, {"id": worker_id})


def queue_consumers(executor: Executor, *, schema: str = DEFAULT_SCHEMA) -> dict[str, int]:
    """How many live workers consume each queue (a queue no live worker consumes is absent)."""
    rows = run(executor, _statements(schema).consumers, {"live_seconds": LIVE_SECONDS})
    return {row.queue: int(row.n) for row in rows}


def notify_queue_usage(executor: Executor) -> float:
    """The fraction (0 to 1) of the cluster's notification queue in use
    (``pg_notification_queue_usage()``)."""
    return float(run(executor, _NOTIFY_QUEUE_USAGE, {}).scalar_one())
