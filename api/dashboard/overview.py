"""The queues page's rows: queue_core's counts and recent throughput, joined per queue."""

from __future__ import annotations

import dataclasses

from queue_core import FINISHED_STATES_IN_ORDER, QueueStats, TaskState
from queue_core.dashboard_queries import Throughput

from ..auth import Principal

STATES = tuple(TaskState)
FINAL_STATES = FINISHED_STATES_IN_ORDER


@dataclasses.dataclass(frozen=True)
class QueueRow:
    """One queue: tasks per state now, oldest due age (seconds), and what finished recently."""

    queue: str
    counts: dict[TaskState, int]
    oldest_due_age: float | None
    last_minute: dict[TaskState, int]
    last_hour: dict[TaskState, int]


def rows(principal: Principal, stats: list[QueueStats], recent: list[Throughput]) -> list[QueueRow]:
    """A row per queue the key may see, sorted by name (a queue seen only in throughput too)."""
    by_queue = {s.queue: s for s in stats}
    finished = {t.queue: t for t in recent}
    names = sorted(q for q in set(by_queue) | set(finished) if principal.may_use(q))
    return [_row(name, by_queue.get(name), finished.get(name)) for name in names]


def unserved(found: list[QueueRow], consumers: dict[str, int]) -> list[str]:
    """The queues holding queued tasks that no live worker consumes."""
    return [r.queue for r in found if r.counts[TaskState.QUEUED] and not consumers.get(r.queue)]


def totals(found: list[QueueRow]) -> QueueRow:
    """The sum over every row (its oldest due age is the oldest of all)."""
    ages = [r.oldest_due_age for r in found if r.oldest_due_age is not None]
    return QueueRow(
        "all queues",
        {s: sum(r.counts[s] for r in found) for s in STATES},
        max(ages) if ages else None,
        {s: sum(r.last_minute[s] for r in found) for s in FINAL_STATES},
        {s: sum(r.last_hour[s] for r in found) for s in FINAL_STATES},
    )


def _row(queue: str, stats: QueueStats | None, recent: Throughput | None) -> QueueRow:
    counts = dict.fromkeys(STATES, 0) if stats is None else dict(stats.counts)
    none = dict.fromkeys(FINAL_STATES, 0)
    return QueueRow(
        queue,
        counts,
        None if stats is None else stats.oldest_due_age,
        none if recent is None else recent.last_minute,
        dict(none) if recent is None else recent.last_hour,
    )
