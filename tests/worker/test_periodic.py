"""Periodic scheduling with an injected clock: one task per slot, and the catch-up rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

import queue_core
from worker import Registry
from worker.periodic import MAX_CATCH_UP, Scheduler


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def make_registry() -> Registry:
    registry = Registry()
    registry.periodic("*/5 * * * *", "report", queue="reports")(lambda ctx: None)
    return registry


def slot_keys(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        tasks = queue_core.list_tasks(conn, queue="reports", limit=1000)
    return sorted(str(t.idempotency_key) for t in tasks)


def key(minute: int, hour: int = 12) -> str:
    return f"periodic:report:2026-01-01T{hour:02}:{minute:02}:00+00:00"


def test_two_schedulers_enqueue_each_slot_once(engine: Engine) -> None:
    clock = Clock(datetime(2026, 1, 1, 12, 3, tzinfo=UTC))
    registry = make_registry()
    workers = [Scheduler(registry, schema="taskrow", clock=clock) for _ in range(2)]
    for minutes in (0, 2, 7, 9, 16):
        clock.now = datetime(2026, 1, 1, 12, 3, tzinfo=UTC) + timedelta(minutes=minutes)
        for scheduler in workers:
            scheduler.tick(engine)
    # start: the latest slot (12:00); then every slot, including 12:15 after the 12:10 one
    assert slot_keys(engine) == [key(0), key(5), key(10), key(15)]


def test_a_starting_worker_skips_older_missed_slots(engine: Engine) -> None:
    clock = Clock(datetime(2026, 1, 1, 12, 3, tzinfo=UTC))
    scheduler = Scheduler(make_registry(), schema="taskrow", clock=clock)
    assert 0 < scheduler.tick(engine) <= 120  # seconds until 12:05
    clock.now = datetime(2026, 1, 1, 14, 1, tzinfo=UTC)  # "restarted" two hours later
    Scheduler(make_registry(), schema="taskrow", clock=clock).tick(engine)
    assert slot_keys(engine) == [key(0), key(0, hour=14)]


def test_a_running_worker_catches_up_a_bounded_number_of_slots(engine: Engine) -> None:
    clock = Clock(datetime(2026, 1, 1, 12, 0, tzinfo=UTC))
    scheduler = Scheduler(make_registry(), schema="taskrow", clock=clock)
    scheduler.tick(engine)
    clock.now = datetime(2026, 1, 1, 15, 0, tzinfo=UTC)  # the database was down for 3 hours
    scheduler.tick(engine)
    keys = slot_keys(engine)
    assert len(keys) == 1 + MAX_CATCH_UP
    assert keys[-1] == key(0, hour=15)
