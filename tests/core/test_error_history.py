"""Each attempt that ends without succeeding leaves an entry in the task's ``errors``: the
latest ``ERROR_HISTORY`` attempts, oldest first, each message and traceback excerpt bounded."""

from __future__ import annotations

from sqlalchemy.engine import Engine

import queue_core
from queue_core import Failure, Lease, TaskState
from queue_core.models import ERROR_HISTORY, ERROR_MESSAGE_CHARS, ERROR_TRACEBACK_CHARS

from .helpers import claim, enqueue, expire_leases, get, make_due


def fail(engine: Engine, lease: Lease, message: str, traceback: str | None = None) -> None:
    with engine.begin() as conn:
        queue_core.fail(conn, Failure(lease, "ValueError", message, traceback))


def test_each_failed_attempt_is_kept_and_a_success_adds_nothing(engine: Engine) -> None:
    task = enqueue(engine, max_attempts=3)
    [first] = claim(engine)
    fail(engine, first.lease, "first boom", "Traceback ...\nValueError: first boom")
    make_due(engine)
    with engine.connect() as conn:  # the worker's path: one round records and claims
        conn.execution_options(isolation_level="AUTOCOMMIT")
        [second] = queue_core.record_and_claim(conn, [], [], ["default"], 1, worker_id="w").claimed
        queue_core.record_and_claim(
            conn,
            [],
            [Failure(second.lease, "OSError", "second boom")],
            ["default"],
            0,
            worker_id="w",
        )
    make_due(engine)
    [third] = claim(engine)
    assert [e["attempt"] for e in third.errors] == [1, 2]
    with engine.begin() as conn:
        queue_core.complete(conn, third.lease, {"ok": True})
    done = get(engine, task.id)
    assert done.state is TaskState.SUCCEEDED
    assert [(e["attempt"], e["type"], e["message"]) for e in done.errors] == [
        (1, "ValueError", "first boom"),
        (2, "OSError", "second boom"),
    ]
    assert done.errors[0]["traceback"].endswith("ValueError: first boom")
    assert done.errors[1]["traceback"] is None and done.errors[0]["at"]


def test_the_history_is_bounded_and_each_entry_truncated(engine: Engine) -> None:
    task = enqueue(engine, max_attempts=ERROR_HISTORY + 5)
    for attempt in range(1, ERROR_HISTORY + 4):
        [claimed] = claim(engine)
        fail(engine, claimed.lease, f"boom {attempt} " + "m" * 5000, "t" * 9000)
        make_due(engine)
    errors = get(engine, task.id).errors
    assert [e["attempt"] for e in errors] == list(range(4, ERROR_HISTORY + 4))
    assert all(len(e["message"]) == ERROR_MESSAGE_CHARS for e in errors)
    assert all(len(e["traceback"]) == ERROR_TRACEBACK_CHARS for e in errors)
    assert errors[-1]["message"].startswith(f"boom {ERROR_HISTORY + 3} ")


def test_expired_leases_are_recorded_as_lease_expired(engine: Engine) -> None:
    task = enqueue(engine, max_attempts=2)
    claim(engine, worker_id="killed-1")
    expire_leases(engine)
    [again] = claim(engine, worker_id="w-2")  # the rescue of attempt 1
    assert again.attempts == 2
    expire_leases(engine)
    assert claim(engine) == []  # attempt 2's lease expired on the last attempt: dead
    dead = get(engine, task.id)
    assert dead.state is TaskState.DEAD and dead.error_type == "LeaseExpired"
    assert [(e["attempt"], e["type"]) for e in dead.errors] == [
        (1, "LeaseExpired"),
        (2, "LeaseExpired"),
    ]


def test_release_adds_nothing_and_a_redrive_keeps_the_history(engine: Engine) -> None:
    task = enqueue(engine, max_attempts=1)
    [claimed] = claim(engine)
    with engine.begin() as conn:
        queue_core.release(conn, [claimed.lease])
    assert get(engine, task.id).errors == ()
    [claimed] = claim(engine)
    fail(engine, claimed.lease, "boom")
    with engine.begin() as conn:
        queue_core.retry(conn, task.id)
    redriven = get(engine, task.id)
    assert redriven.state is TaskState.QUEUED and redriven.error_type is None
    assert [e["message"] for e in redriven.errors] == ["boom"]


def test_the_worker_round_backs_off_by_the_documented_schedule(engine: Engine) -> None:
    """Without a Retry delay: random() * min(1 h, 2 ** (attempt - 1) s) (docs/worker.md)."""
    assert (queue_core.leases.BACKOFF_BASE_SECONDS, queue_core.leases.BACKOFF_CAP_SECONDS) == (
        1.0,
        3600.0,
    )
    enqueue(engine, max_attempts=10)
    for attempt in range(1, 5):
        make_due(engine)
        [task] = claim(engine)
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            failure = Failure(task.lease, "E", "again")
            queue_core.record_and_claim(conn, [], [failure], ["default"], 0, worker_id="w")
            now = conn.exec_driver_sql("SELECT now()").scalar_one()
        retried = get(engine, task.id)
        assert retried.state is TaskState.QUEUED and retried.attempts == attempt
        assert 0 <= (retried.run_at - now).total_seconds() <= 2 ** (attempt - 1)


def test_a_charged_release_of_the_last_attempt_is_recorded_as_worker_stopped(
    engine: Engine,
) -> None:
    task = enqueue(engine, max_attempts=1)
    [claimed] = claim(engine)
    with engine.begin() as conn:
        queue_core.release(conn, [claimed.lease], refund=False)  # its handler had started
    dead = get(engine, task.id)
    assert dead.state is TaskState.DEAD and dead.error_type == "WorkerStopped"
    assert [(e["attempt"], e["type"]) for e in dead.errors] == [(1, "WorkerStopped")]
