"""Periodic tasks: every worker enqueues each due slot; the idempotency key keeps one per slot.

The key is ``periodic:<task>:<schedule digest>:<slot in UTC, ISO 8601>``, the digest covering
the schedule and its args, so however many workers run the same schedule, a slot yields one
task (the others' enqueues return the existing task), while two schedules of one task each get
theirs. Slot times come from the database clock (``clock_timestamp()``), like every other time
in taskrow, so workers whose clocks disagree still agree on the slots; they are computed in
UTC, whatever the database session's time zone. Tests may inject a clock.

Catch-up rule: a worker that starts enqueues only the most recent slot at or before now (slots
missed while every worker was down are skipped, never replayed in a burst). A running worker
then enqueues every slot since the last one it enqueued, so a late tick or a short database
outage skips nothing; after a longer outage at most the ``MAX_CATCH_UP`` most recent missed
slots are enqueued.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.engine import Engine

import queue_core
from queue_core import IdempotencyConflict

from .registry import PeriodicSpec, Registry

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
MAX_CATCH_UP = 10


class Scheduler:
    """Tracks, per schedule, the last slot enqueued; :meth:`tick` enqueues what is due."""

    def __init__(self, registry: Registry, *, schema: str, clock: Clock | None = None) -> None:
        self._registry = registry
        self._schema = schema
        self._clock = clock
        self._last: dict[tuple[str, str], datetime] = {}

    @property
    def active(self) -> bool:
        return bool(self._registry.periodic_specs)

    def tick(self, engine: Engine) -> float:
        """Enqueue the due slots; returns seconds until the next one. Raises DatabaseError."""
        now = self._now(engine)
        due = [
            (spec, slot) for spec in self._registry.periodic_specs for slot in self._due(spec, now)
        ]
        if due:
            with queue_core.transaction(engine) as conn:
                for spec, slot in due:
                    self._enqueue(conn, spec, slot)
            self._last.update((_key(spec), slot) for spec, slot in due)
        return self._until_next(now)

    def _due(self, spec: PeriodicSpec, now: datetime) -> list[datetime]:
        """At start, the latest slot; then every slot since the last one enqueued (at most
        ``MAX_CATCH_UP``, the most recent), so a late tick never skips a slot."""
        latest = spec.latest_slot(now)
        last = self._last.get(_key(spec))
        if last is None:
            return [latest]
        slots: list[datetime] = []
        while (last := spec.next_slot(last)) <= latest:
            slots = [*slots[-(MAX_CATCH_UP - 1) :], last]
        return slots

    def _enqueue(self, conn: queue_core.Executor, spec: PeriodicSpec, slot: datetime) -> None:
        task_spec = self._registry.tasks[spec.task]
        key = periodic_key(spec, slot)
        timeout = None if task_spec.timeout is None else max(1, round(task_spec.timeout))
        try:
            task = queue_core.enqueue(
                conn,
                spec.task,
                dict(spec.args),
                queue=task_spec.queue,
                run_at=slot,
                max_attempts=task_spec.max_attempts,
                timeout_seconds=timeout,
                idempotency_key=key,
                schema=self._schema,
            )
        except IdempotencyConflict:
            logger.warning("periodic.conflict task=%s slot=%s", spec.task, slot.isoformat())
            return
        logger.info(
            "periodic.enqueued task_id=%s task=%s slot=%s", task.id, spec.task, slot.isoformat()
        )

    def _now(self, engine: Engine) -> datetime:
        if self._clock is not None:
            return self._clock().astimezone(UTC)
        with queue_core.connection(engine) as conn:
            return queue_core.database_now(conn, schema=self._schema).astimezone(UTC)

    def _until_next(self, now: datetime) -> float:
        nexts = [s.next_slot(now) for s in self._registry.periodic_specs]
        return max(0.0, min((t - now).total_seconds() for t in nexts))


def periodic_key(spec: PeriodicSpec, slot: datetime) -> str:
    """The idempotency key of one slot of one schedule."""
    return f"periodic:{spec.task}:{_digest(spec)}:{slot.astimezone(UTC).isoformat()}"


def _digest(spec: PeriodicSpec) -> str:
    text = json.dumps([spec.schedule, spec.args], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _key(spec: PeriodicSpec) -> tuple[str, str]:
    return (spec.task, _digest(spec))
