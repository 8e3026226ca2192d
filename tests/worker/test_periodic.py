"""Periodic scheduling with an injected clock: one task per slot, and the catch-up rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

import queue_core
from worker import Registry
from worker.periodic import MAX_CATCH_UP, Scheduler, periodic_key


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
    [spec] = make_registry().periodic_specs
    return periodic_key(spec, datetime(2026, 1, 1, hour, minute, tzinfo=UTC))


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


def test_the_key_is_the_task_a_digest_of_schedule_and_args_and_the_utc_slot() -> None:
    assert key(5) == "periodic:report:" + key(5).split(":")[2] + ":2026-01-01T12:05:00+00:00"
    assert len(key(5).split(":")[2]) == 16


def test_each_schedule_of_one_task_gets_its_own_task(engine: Engine) -> None:
    registry = Registry()
    handler = registry.periodic("*/5 * * * *", "report", queue="reports", args={"a": 1})
    fn = handler(lambda ctx: None)
    registry.periodic("*/5 * * * *", "report", queue="reports", args={"a": 2})(fn)
    registry.periodic("0 * * * *", "report", queue="reports", args={"a": 1})(fn)
    clock = Clock(datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC))
    for _ in range(2):  # two workers
        Scheduler(registry, schema="taskrow", clock=clock).tick(engine)
    with engine.connect() as conn:
        tasks = queue_core.list_tasks(conn, queue="reports", limit=10)
    assert sorted((t.args["a"], t.run_at.minute) for t in tasks) == [(1, 0), (1, 0), (2, 0)]
    assert len({t.idempotency_key for t in tasks}) == 3


def test_workers_starting_at_different_seconds_of_a_slot_minute_agree(engine: Engine) -> None:
    for second in (7, 23, 41):
        clock = Clock(datetime(2026, 1, 1, 12, 5, second, tzinfo=UTC))
        Scheduler(make_registry(), schema="taskrow", clock=clock).tick(engine)
    assert slot_keys(engine) == [key(5)]


def test_slots_are_utc_whatever_the_session_time_zone(db_url: str, engine: Engine) -> None:
    registry = Registry()
    registry.periodic("0 * * * *", "hourly", queue="reports")(lambda ctx: None)
    for zone in ("UTC", "Asia/Kathmandu"):  # +05:45: its local hours start at :15 UTC
        url = sa.make_url(db_url).update_query_dict({"options": f"-c timezone={zone}"})
        zoned = queue_core.create_engine(url.render_as_string(hide_password=False))
        try:
            Scheduler(registry, schema="taskrow").tick(zoned)
        finally:
            zoned.dispose()
    with engine.connect() as conn:
        [task] = queue_core.list_tasks(conn, queue="reports", limit=10)
    assert task.run_at.astimezone(UTC).minute == 0
