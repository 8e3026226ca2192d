"""Claim, heartbeat, progress, complete, fail, release: the fenced lease protocol."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

import queue_core
from queue_core import Failure, InvalidTaskError, Lease, LeaseLost, LeaseToken, NewTask, TaskState

from .helpers import claim, count_tasks, enqueue, expire_leases, get, make_due


def test_claim_orders_by_priority_then_run_at(engine: Engine) -> None:
    low = enqueue(engine, priority=0)
    high = enqueue(engine, priority=5)
    later_low = enqueue(engine, priority=0)
    future = enqueue(engine, priority=9, delay=3600)
    claimed = claim(engine, n=10)
    assert [t.id for t in claimed] == [high.id, low.id, later_low.id]
    assert future.id not in {t.id for t in claimed}


def test_claim_stamps_lease_and_counts_attempt_by_database_clock(engine: Engine) -> None:
    enqueue(engine)
    [task] = claim(engine, lease_for=45, worker_id="w-1")
    with engine.connect() as conn:
        db_now = conn.execute(sa.text("SELECT now()")).scalar_one()
    assert task.state is TaskState.RUNNING and task.attempts == 1 and task.worker_id == "w-1"
    assert task.lease_token is not None and task.started_at is not None
    assert timedelta(seconds=44) < task.run_at - db_now <= timedelta(seconds=45)


def test_claim_only_reads_the_queues_asked_for(engine: Engine) -> None:
    enqueue(engine, queue="a")
    enqueue(engine, queue="b")
    enqueue(engine, queue="c")
    assert {t.queue for t in claim(engine, n=10, queues=["a", "c"])} == {"a", "c"}
    with pytest.raises(InvalidTaskError), engine.begin() as conn:
        queue_core.claim(conn, "a", worker_id="w")  # a bare string is a mistake, not a list


def test_eight_racing_claimers_take_each_task_exactly_once(engine: Engine) -> None:
    with engine.begin() as conn:
        queue_core.enqueue_many(conn, [NewTask("t", {"i": i}) for i in range(2000)])
    seen: list[list[uuid.UUID]] = [[] for _ in range(8)]
    barrier = threading.Barrier(8)

    def drain(slot: int) -> None:
        barrier.wait(timeout=10)
        while batch := claim(engine, n=7, worker_id=f"w{slot}"):
            seen[slot].extend(t.id for t in batch)
            with engine.begin() as conn:
                queue_core.complete_many(conn, [(t.lease, None) for t in batch])

    threads = [threading.Thread(target=drain, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    everything = [task_id for ids in seen for task_id in ids]
    assert len(everything) == 2000 and len(set(everything)) == 2000
    assert sum(1 for ids in seen if ids) > 1  # the claimers really did race
    assert count_tasks(engine, "state = 'succeeded' AND attempts = 1") == 2000


def test_expired_lease_makes_the_task_claimable_again_with_attempts_counted(engine: Engine) -> None:
    task = enqueue(engine, max_attempts=3)
    [first] = claim(engine, worker_id="dies")
    assert claim(engine) == []  # leased: nobody else gets it
    expire_leases(engine)
    [second] = claim(engine, worker_id="rescuer")
    assert second.id == task.id and second.attempts == 2
    assert second.lease_token != first.lease_token and second.worker_id == "rescuer"


def test_a_dead_workers_tasks_are_rescued_before_the_backlog(engine: Engine) -> None:
    stranded = enqueue(engine, priority=0)
    claim(engine, worker_id="dies")
    with engine.begin() as conn:  # a backlog that is due, and of higher priority
        queue_core.enqueue_many(conn, [NewTask("t", priority=9) for _ in range(50)])
    expire_leases(engine)
    first = claim(engine, n=5, worker_id="rescuer")
    assert first[0].id == stranded.id and first[0].attempts == 2
    assert [t.priority for t in first[1:]] == [9, 9, 9, 9]


def test_poison_task_that_kills_its_worker_ends_dead_after_max_attempts(engine: Engine) -> None:
    task = enqueue(engine, max_attempts=3)
    for attempt in (1, 2, 3):
        [claimed] = claim(engine)
        assert claimed.attempts == attempt
        expire_leases(engine)  # the worker died without a word
    assert claim(engine) == []
    dead = get(engine, task.id)
    assert dead.state is TaskState.DEAD and dead.attempts == 3
    assert dead.error_type == "LeaseExpired" and dead.finished_at is not None


def test_always_failing_task_ends_dead_after_max_attempts(engine: Engine) -> None:
    task = enqueue(engine, max_attempts=2)
    states = []
    for _ in range(2):
        [claimed] = claim(engine)
        with engine.begin() as conn:
            states.append(
                queue_core.fail(conn, Failure(claimed.lease, "ValueError", "boom", retry_in=0))
            )
    assert states == [TaskState.QUEUED, TaskState.DEAD]
    dead = get(engine, task.id)
    assert (dead.state, dead.error_type, dead.error_message) == (
        TaskState.DEAD,
        "ValueError",
        "boom",
    )


def test_stale_token_cannot_complete_fail_progress_or_release(engine: Engine) -> None:
    task = enqueue(engine)
    [zombie] = claim(engine, worker_id="zombie")
    expire_leases(engine)
    [rescuer] = claim(engine, worker_id="rescuer")
    with engine.begin() as conn:
        with pytest.raises(LeaseLost):
            queue_core.complete(conn, zombie.lease, {"by": "zombie"})
        with pytest.raises(LeaseLost):
            queue_core.fail(conn, Failure(zombie.lease, "E", "zombie failure", retryable=False))
        with pytest.raises(LeaseLost):
            queue_core.progress(conn, zombie.lease, 1, 2, "zombie progress")
        assert queue_core.release(conn, [zombie.lease]) == set()
        assert queue_core.heartbeat(conn, [zombie.lease]).lost == {task.id}
    with engine.begin() as conn:
        queue_core.complete(conn, rescuer.lease, {"by": "rescuer"})
    # and once finished, even the rightful token is spent
    with pytest.raises(LeaseLost), engine.begin() as conn:
        queue_core.complete(conn, rescuer.lease, {"by": "twice"})
    done = get(engine, task.id)
    assert done.state is TaskState.SUCCEEDED and done.result == {"by": "rescuer"}
    assert done.progress_message is None and done.error_type is None


def test_a_made_up_token_is_rejected(engine: Engine) -> None:
    task = enqueue(engine)
    claim(engine)
    forged = Lease(task.id, LeaseToken(uuid.uuid4()))
    with pytest.raises(LeaseLost), engine.begin() as conn:
        queue_core.complete(conn, forged, "forged")
    assert get(engine, task.id).state is TaskState.RUNNING


def test_heartbeat_extends_all_held_leases_in_one_statement(engine: Engine) -> None:
    for _ in range(3):
        enqueue(engine)
    tasks = claim(engine, n=3, lease_for=5)
    statements: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with engine.begin() as conn:
        beat = queue_core.heartbeat(conn, [t.lease for t in tasks], lease_for=120)
    assert len([s for s in statements if "UPDATE" in s]) == 1
    assert set(beat.held) == {t.id for t in tasks} and beat.lost == frozenset()
    for task in tasks:
        assert get(engine, task.id).run_at - task.run_at > timedelta(seconds=100)


def test_heartbeat_reports_a_requested_cancel(engine: Engine) -> None:
    task = enqueue(engine)
    [claimed] = claim(engine)
    with engine.begin() as conn:
        assert queue_core.cancel(conn, task.id).cancel_requested
    with engine.begin() as conn:
        beat = queue_core.heartbeat(conn, [claimed.lease])
    assert beat.held == {task.id: True}


def test_progress_is_visible_from_another_connection(engine: Engine) -> None:
    enqueue(engine)
    [task] = claim(engine)
    with engine.begin() as conn:
        assert queue_core.progress(conn, task.lease, 3, 10, "resizing") is False
    seen = get(engine, task.id)
    assert (seen.progress_current, seen.progress_total, seen.progress_message) == (
        3,
        10,
        "resizing",
    )


def test_explicit_retry_delay_and_non_retryable_failure(engine: Engine) -> None:
    task = enqueue(engine, max_attempts=5)
    [claimed] = claim(engine)
    with engine.begin() as conn:
        queue_core.fail(conn, Failure(claimed.lease, "Busy", "later", retry_in=600))
        now = conn.execute(sa.text("SELECT now()")).scalar_one()
    assert timedelta(seconds=599) < get(engine, task.id).run_at - now <= timedelta(seconds=600)
    make_due(engine)
    [claimed] = claim(engine)
    with engine.begin() as conn:
        state = queue_core.fail(conn, Failure(claimed.lease, "Invalid", "never", retryable=False))
    assert state is TaskState.DEAD and get(engine, task.id).attempts == 2


def test_release_returns_the_task_without_charging_the_attempt(engine: Engine) -> None:
    task = enqueue(engine)
    [claimed] = claim(engine)
    with engine.begin() as conn:
        assert queue_core.release(conn, [claimed.lease]) == {task.id}
    released = get(engine, task.id)
    assert released.state is TaskState.QUEUED and released.attempts == 0
    [again] = claim(engine)
    assert again.id == task.id and again.attempts == 1


def test_cancel_queued_running_and_finished(engine: Engine) -> None:
    queued, running, finished = (
        enqueue(engine, priority=1),
        enqueue(engine, priority=2),
        enqueue(engine, priority=3),
    )
    [fin, run] = claim(engine, n=2)
    with engine.begin() as conn:
        queue_core.complete(conn, fin.lease, None)
    with engine.begin() as conn:
        assert queue_core.cancel(conn, queued.id).state is TaskState.CANCELLED
        requested = queue_core.cancel(conn, running.id)
        assert requested.state is TaskState.RUNNING and requested.cancel_requested
        with pytest.raises(queue_core.InvalidTransition):
            queue_core.cancel(conn, finished.id)
        with pytest.raises(queue_core.TaskNotFound):
            queue_core.cancel(conn, uuid.uuid4())
    with engine.begin() as conn:  # the handler stops and reports: the task ends cancelled
        assert (
            queue_core.fail(conn, Failure(run.lease, "Cancelled", "stopped")) is TaskState.CANCELLED
        )
    assert claim(engine) == []


def test_cancel_requested_task_whose_worker_died_ends_cancelled(engine: Engine) -> None:
    task = enqueue(engine)
    claim(engine)
    with engine.begin() as conn:
        queue_core.cancel(conn, task.id)
    expire_leases(engine)
    assert claim(engine) == []
    assert get(engine, task.id).state is TaskState.CANCELLED


def test_retry_redrives_dead_tasks_one_or_by_queue(engine: Engine) -> None:
    tasks = [enqueue(engine, max_attempts=1, queue="q") for _ in range(3)]
    for claimed in claim(engine, n=3, queues=["q"]):
        with engine.begin() as conn:
            queue_core.fail(conn, Failure(claimed.lease, "E", "x"))
    with engine.begin() as conn:
        again = queue_core.retry(conn, tasks[0].id)
        assert again.state is TaskState.QUEUED and again.attempts == 0 and again.error_type is None
        with pytest.raises(queue_core.InvalidTransition):
            queue_core.retry(conn, tasks[0].id)
        assert queue_core.retry_queue(conn, "q") == 2
    assert len(claim(engine, n=5, queues=["q"])) == 3


def test_tenant_scoping_hides_other_tenants_tasks(engine: Engine) -> None:
    task = enqueue(engine, tenant="acme")
    with engine.begin() as conn:
        assert queue_core.get(conn, task.id, tenant="acme").id == task.id
        for operation in (queue_core.get, queue_core.cancel, queue_core.retry):
            with pytest.raises(queue_core.TaskNotFound):
                operation(conn, task.id, tenant="globex")
        assert queue_core.list_tasks(conn, tenant="globex") == []
    with pytest.raises(queue_core.TaskNotFound), engine.connect() as conn:
        queue_core.get(conn, "not-a-uuid")


def test_release_of_a_started_handler_keeps_the_attempt_and_ends_it_when_spent(
    engine: Engine,
) -> None:
    twice = enqueue(engine, max_attempts=2)
    [claimed] = claim(engine)
    with engine.begin() as conn:
        assert queue_core.release(conn, [claimed.lease], refund=False) == {twice.id}
    again = get(engine, twice.id)
    assert (again.state, again.attempts) == (TaskState.QUEUED, 1)
    [last] = claim(engine)
    assert last.attempts == 2  # ctx.attempt grows across releases
    with engine.begin() as conn:
        assert queue_core.release(conn, [last.lease], refund=False) == {twice.id}
    spent = get(engine, twice.id)
    assert (spent.state, spent.attempts, spent.error_type) == (TaskState.DEAD, 2, "WorkerStopped")
    assert spent.finished_at is not None and spent.lease_token is None


def test_heartbeat_tells_an_older_lease_of_a_reclaimed_task_it_is_lost(engine: Engine) -> None:
    task = enqueue(engine)
    [stale] = claim(engine, worker_id="w")
    expire_leases(engine)
    [fresh] = claim(engine, worker_id="w")  # the same worker claimed it again
    with engine.begin() as conn:
        beat = queue_core.heartbeat(conn, [stale.lease, fresh.lease])
    assert beat.lost_leases == {stale.lease} and beat.lost == {task.id}
    assert beat.held == {task.id: False}
    with engine.begin() as conn:
        assert queue_core.release(conn, [stale.lease]) == set()
    assert get(engine, task.id).lease_token == fresh.lease_token


def test_adopt_finds_only_this_workers_recent_claims_it_does_not_hold(engine: Engine) -> None:
    mine, older, theirs = enqueue(engine), enqueue(engine), enqueue(engine)
    claimed = {t.id: t for t in claim(engine, n=2, worker_id="me")}
    claim(engine, worker_id="them")
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE taskrow.tasks SET started_at = now() - interval '1 hour' WHERE id = :i"
            ),
            {"i": older.id},
        )
        assert {t.id for t in queue_core.adopt(conn, [], within=60, worker_id="me")} == {mine.id}
        held = [claimed[mine.id].lease]
        assert queue_core.adopt(conn, held, within=60, worker_id="me") == []
        [adopted] = queue_core.adopt(conn, [], within=60, lease_for=600, worker_id="me")
    assert (adopted.lease_token, adopted.attempts) == (claimed[mine.id].lease_token, 1)
    assert get(engine, mine.id).run_at - claimed[mine.id].run_at > timedelta(seconds=500)
    assert get(engine, theirs.id).worker_id == "them"
