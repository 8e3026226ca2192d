"""The interleavings the state machine must hold, each forced deterministically: one session's
step holds its row locks while the other's statement waits on them (then re-checks its WHERE
clause on the committed row), or is skipped by SKIP LOCKED."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

import queue_core
from queue_core import Failure, IdempotencyConflict, LeaseLost, TaskNotFound, TaskState

from ..core.helpers import claim, enqueue, expire_leases, get
from .harness import Background, before_statement, held

QUEUES = ["default"]


def _claim(conn: sa.Connection, worker: str) -> list[queue_core.Task]:
    return queue_core.claim(conn, QUEUES, 1, worker_id=worker)


def test_heartbeat_waiting_on_a_rescue_learns_the_lease_is_lost(engine: Engine) -> None:
    task = enqueue(engine)
    [stale] = claim(engine, worker_id="stalled")
    expire_leases(engine)
    with held(engine) as rescue:
        [rescued] = _claim(rescue, "rescuer")
        beat = Background(engine, lambda c: queue_core.heartbeat(c, [stale.lease]))
        beat.wait_blocked(engine)
    assert beat.result().lost_leases == {stale.lease}
    assert get(engine, task.id).lease_token == rescued.lease_token


def test_a_rescue_passes_a_heartbeat_in_progress_by(engine: Engine) -> None:
    task = enqueue(engine)
    [running] = claim(engine, worker_id="w")
    expire_leases(engine)
    with held(engine) as beating:
        assert queue_core.heartbeat(beating, [running.lease]).held == {task.id: False}
        with engine.begin() as other:
            assert _claim(other, "rescuer") == []  # SKIP LOCKED: never waits, never steals
    with engine.begin() as other:
        assert _claim(other, "rescuer") == []  # the heartbeat committed: the lease is fresh
    assert get(engine, task.id).lease_token == running.lease_token


def test_completion_waiting_on_a_rescue_is_refused(engine: Engine) -> None:
    task = enqueue(engine)
    [stale] = claim(engine, worker_id="stalled")
    expire_leases(engine)
    with held(engine) as rescue:
        [rescued] = _claim(rescue, "rescuer")
        late = Background(engine, lambda c: queue_core.complete(c, stale.lease, "zombie"))
        late.wait_blocked(engine)
    with pytest.raises(LeaseLost):
        late.result()
    after = get(engine, task.id)
    assert (after.state, after.lease_token) == (TaskState.RUNNING, rescued.lease_token)


def test_a_rescue_passes_a_completion_in_progress_by(engine: Engine) -> None:
    task = enqueue(engine)
    [running] = claim(engine, worker_id="w")
    expire_leases(engine)
    with held(engine) as completing:
        queue_core.complete(completing, running.lease, "done")
        with engine.begin() as other:
            assert _claim(other, "rescuer") == []
    assert get(engine, task.id).state is TaskState.SUCCEEDED


def test_cancel_waiting_on_a_claim_asks_the_worker(engine: Engine) -> None:
    task = enqueue(engine)
    with held(engine) as claiming:
        [claimed] = _claim(claiming, "w")
        cancel = Background(engine, lambda c: queue_core.cancel(c, task.id))
        cancel.wait_blocked(engine)
    cancelled = cancel.result()
    assert (cancelled.state, cancelled.cancel_requested) == (TaskState.RUNNING, True)
    with engine.begin() as conn:
        assert queue_core.heartbeat(conn, [claimed.lease]).held == {task.id: True}


def test_a_claim_passes_a_cancel_in_progress_by(engine: Engine) -> None:
    task = enqueue(engine)
    with held(engine) as cancelling:
        assert queue_core.cancel(cancelling, task.id).state is TaskState.CANCELLED
        with engine.begin() as other:
            assert _claim(other, "w") == []
    assert get(engine, task.id).state is TaskState.CANCELLED


def test_a_rescue_after_a_cancel_request_ends_the_task_cancelled(engine: Engine) -> None:
    task = enqueue(engine)
    claim(engine, worker_id="stalled")
    expire_leases(engine)
    with held(engine) as cancelling:
        queue_core.cancel(cancelling, task.id)
        with engine.begin() as other:
            assert _claim(other, "rescuer") == []  # locked: skipped, not waited for
    with engine.begin() as other:
        assert _claim(other, "rescuer") == []
    assert get(engine, task.id).state is TaskState.CANCELLED


def test_two_rescuers_one_wins(engine: Engine) -> None:
    task = enqueue(engine)
    claim(engine, worker_id="stalled")
    expire_leases(engine)
    with held(engine) as first:
        [won] = _claim(first, "first")
        with engine.begin() as second:
            assert _claim(second, "second") == []
    with engine.begin() as second:
        assert _claim(second, "second") == []  # the winner's lease is fresh
    after = get(engine, task.id)
    assert (after.worker_id, after.attempts, after.lease_token) == ("first", 2, won.lease_token)


def _dead_and_old(engine: Engine) -> queue_core.Task:
    task = enqueue(engine, max_attempts=1)
    [claimed] = claim(engine)
    with engine.begin() as conn:
        queue_core.fail(conn, Failure(claimed.lease, "E", "final", retryable=False))
        conn.execute(sa.text("UPDATE taskrow.tasks SET finished_at = now() - interval '1 day'"))
    return task


def test_a_prune_passes_a_redrive_in_progress_by(engine: Engine) -> None:
    task = _dead_and_old(engine)
    with held(engine) as redriving:
        queue_core.retry(redriving, task.id)
        with engine.begin() as other:
            assert queue_core.prune(other, older_than=3600) == 0  # SKIP LOCKED
    assert get(engine, task.id).state is TaskState.QUEUED
    with engine.begin() as other:
        assert queue_core.prune(other, older_than=3600) == 0  # no longer finished


def test_a_redrive_waiting_on_a_prune_finds_the_task_gone(engine: Engine) -> None:
    task = _dead_and_old(engine)
    with held(engine) as pruning:
        assert queue_core.prune(pruning, older_than=3600) == 1
        redrive = Background(engine, lambda c: queue_core.retry(c, task.id))
        redrive.wait_blocked(engine)
    with pytest.raises(TaskNotFound):
        redrive.result()


def test_crossing_rounds_a_rescue_skips_a_task_being_recorded(engine: Engine) -> None:
    task = enqueue(engine)
    [running] = claim(engine, worker_id="a")
    expire_leases(engine)
    with held(engine) as recording:
        done = queue_core.record_and_claim(
            recording, [(running.lease, 1)], [], QUEUES, 0, worker_id="a"
        )
        assert done.completed == {task.id}
        with engine.begin() as other:
            rescued = queue_core.record_and_claim(other, [], [], QUEUES, 1, worker_id="b")
        assert rescued.claimed == []
    assert get(engine, task.id).state is TaskState.SUCCEEDED


def test_crossing_rounds_a_record_waiting_on_a_rescue_is_fenced(engine: Engine) -> None:
    task = enqueue(engine)
    [running] = claim(engine, worker_id="a")
    expire_leases(engine)
    with held(engine) as rescuing:
        rescued = queue_core.record_and_claim(rescuing, [], [], QUEUES, 1, worker_id="b")
        assert [t.id for t in rescued.claimed] == [task.id]
        late = Background(
            engine,
            lambda c: queue_core.record_and_claim(
                c, [(running.lease, 1)], [], QUEUES, 0, worker_id="a"
            ),
        )
        late.wait_blocked(engine)
    assert late.result().completed == set()
    after = get(engine, task.id)
    assert (after.state, after.worker_id) == (TaskState.RUNNING, "b")


def test_a_replay_racing_a_prune_is_told_to_retry(engine: Engine) -> None:
    first = enqueue(engine, idempotency_key="k", max_attempts=1)
    [claimed] = claim(engine)
    with engine.begin() as conn:
        queue_core.complete(conn, claimed.lease, "done")
        conn.execute(sa.text("UPDATE taskrow.tasks SET finished_at = now() - interval '1 day'"))

    def prune() -> None:
        with engine.begin() as other:
            assert queue_core.prune(other, older_than=3600) == 1

    # The replay's insert skips the key's holder; the prune commits before the replay reads it.
    with (
        before_statement(engine, "idempotency_key = ANY", prune),
        pytest.raises(queue_core.DatabaseUnavailable, match="retry") as refused,
    ):
        enqueue(engine, idempotency_key="k", max_attempts=1)
    assert not isinstance(refused.value, IdempotencyConflict)
    again = enqueue(engine, idempotency_key="k", max_attempts=1)  # the retry is a fresh task
    assert again.id != first.id and again.state is TaskState.QUEUED
