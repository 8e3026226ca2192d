"""Retry backoff: exponential in the attempt, capped, with full jitter, on the database clock."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

import queue_core
from queue_core import Failure, NewTask, TaskState

from .helpers import claim, get, make_due

TASKS = 40  # uniform samples: P(all below half the bound) = 2**-40, P(two equal) ~ 0


def test_failure_backoff_grows_is_capped_and_jittered(engine: Engine) -> None:
    with engine.begin() as conn:
        queue_core.enqueue_many(conn, [NewTask(task="t", max_attempts=10)] * TASKS)
    for attempt, bound in ((1, 10), (2, 20), (3, 25), (4, 25)):  # base 10 s, cap 25 s
        make_due(engine)
        claimed = claim(engine, n=TASKS)
        assert len(claimed) == TASKS
        with engine.begin() as conn:
            failures = [Failure(task.lease, "E", "again") for task in claimed]
            queue_core.fail_many(conn, failures, backoff_base=10, backoff_cap=25)
            now = conn.execute(sa.text("SELECT now()")).scalar_one()
        retried = [get(engine, task.id) for task in claimed]
        assert all(t.state is TaskState.QUEUED and t.attempts == attempt for t in retried)
        delays = [(t.run_at - now).total_seconds() for t in retried]
        assert all(0 <= d <= bound for d in delays), (attempt, delays)
        assert max(delays) > bound / 2, (attempt, delays)  # the backoff is there and grows
        assert len(set(delays)) > TASKS // 2, (attempt, delays)  # jittered, not one delay


def test_backoff_is_counted_from_the_database_clock(engine: Engine) -> None:
    with engine.begin() as conn:
        queue_core.enqueue(conn, "t", max_attempts=5)
    [task] = claim(engine)
    with engine.begin() as conn:
        queue_core.fail(conn, Failure(task.lease, "E", "again", retry_in=120))
        now = conn.execute(sa.text("SELECT now()")).scalar_one()
    assert get(engine, task.id).run_at - now == timedelta(seconds=120)
