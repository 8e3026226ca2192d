"""Claiming ahead: while handlers are quick, a worker claims more tasks than it has slots, and
those wait in it, unstarted, for a slot; with slow handlers it claims one per free slot."""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine

import queue_core
from queue_core import Claimed, TaskState
from worker import AsyncTaskContext, Registry, Worker, WorkerConfig, recorder
from worker import loop as loop_module
from worker.aio import AsyncPool
from worker.context import Flags
from worker.jobs import Job
from worker.outcome import Failed, Outcome
from worker.threads import ThreadPool

from ..support import wait_for
from . import async_handlers
from .conftest import enqueue, fetch
from .handlers import registry

#: Only async handlers: the worker runs them all on one event loop (no thread pool beside it).
aio_registry = Registry()
_running_now: list[int] = [0, 0]  # coroutines running now, the most seen at once


@aio_registry.task("anoop")
async def anoop(ctx: AsyncTaskContext) -> None:
    _running_now[0] += 1
    _running_now[1] = max(_running_now[1], _running_now[0])
    try:
        await asyncio.sleep(0)  # let the loop start any other coroutine it would
    finally:
        _running_now[0] -= 1


_release = threading.Event()


@aio_registry.task("ablock")
async def ablock(ctx: AsyncTaskContext) -> None:
    _running_now[0] += 1
    try:
        await asyncio.to_thread(_release.wait, 30)  # the test sets it (a deadline, not a nap)
    finally:
        _running_now[0] -= 1


def spy_rounds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The claim size of every round the worker runs."""
    sizes: list[int] = []

    def counted(conn: Any, config: WorkerConfig, done: Any, claim_n: int) -> Any:
        sizes.append(claim_n)
        return recorder.run_round(conn, config, done, claim_n)

    monkeypatch.setattr(loop_module, "run_round", counted)
    return sizes


def drain(engine: Engine, handlers: Registry = registry, **config: Any) -> None:
    settings = WorkerConfig(queues=("default",), listen=False, burst=True, lease=5, **config)
    assert Worker(handlers, engine, settings).run() == 0


@pytest.mark.parametrize(("prefetch", "most"), [(6, 8), (0, 2)])
def test_quick_handlers_are_claimed_ahead_of_the_slots(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, prefetch: int, most: int
) -> None:
    tasks = [enqueue(engine, "noop") for _ in range(60)]
    sizes = spy_rounds(monkeypatch)
    drain(engine, concurrency=2, prefetch=prefetch)
    assert max(sizes) == most  # 2 slots + 6 ahead once the first attempts were seen quick
    for task in tasks:
        done = fetch(engine, task)
        assert (done.state, done.attempts) == (TaskState.SUCCEEDED, 1)


def test_quick_async_handlers_are_claimed_ahead_and_wait_for_a_slot(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The event loop starts at most ``concurrency`` coroutines; those claimed ahead wait."""
    tasks = [enqueue(engine, "anoop") for _ in range(60)]
    sizes = spy_rounds(monkeypatch)
    _running_now[:] = [0, 0]
    drain(engine, aio_registry, concurrency=2, prefetch=6)
    assert max(sizes) == 8
    assert _running_now[1] == 2
    for task in tasks:
        done = fetch(engine, task)
        assert (done.state, done.attempts) == (TaskState.SUCCEEDED, 1)


def test_sync_and_async_handlers_side_by_side_are_not_claimed_ahead(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two pools, each with ``concurrency`` slots, would run twice that many at once."""
    tasks = [enqueue(engine, "asleep", {"seconds": 0}) for _ in range(30)]
    sizes = spy_rounds(monkeypatch)
    drain(engine, async_handlers.registry, concurrency=2, prefetch=6)
    assert 0 < max(sizes) <= 2
    assert all(fetch(engine, task).state is TaskState.SUCCEEDED for task in tasks)


def test_slow_handlers_are_not_claimed_ahead(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    tasks = [enqueue(engine, "nap", {"seconds": 0.1}) for _ in range(8)]
    sizes = spy_rounds(monkeypatch)
    drain(engine, concurrency=2, prefetch=6)
    assert 0 < max(sizes) <= 2
    assert all(fetch(engine, task).state is TaskState.SUCCEEDED for task in tasks)


def test_tasks_claimed_ahead_are_handed_back_unstarted_at_a_graceful_stop(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """One slot: quick tasks first (so the worker claims ahead), then one that blocks the
    slot, with quick ones claimed ahead behind it. A stop releases those refunded."""
    for _ in range(12):
        enqueue(engine, "noop", priority=2)
    blocker = enqueue(engine, "block", {"release": str(tmp_path / "never")}, priority=1)
    behind = [enqueue(engine, "noop") for _ in range(20)]
    claimed: list[uuid.UUID] = []

    def recorded(conn: Any, config: WorkerConfig, done: Any, claim_n: int) -> Any:
        result = recorder.run_round(conn, config, done, claim_n)
        claimed.extend(task.id for task in result.claimed)
        return result

    monkeypatch.setattr(loop_module, "run_round", recorded)
    config = WorkerConfig(queues=("default",), concurrency=1, prefetch=4, listen=False, grace=0.2)
    worker = Worker(registry, engine, config)
    runner = threading.Thread(target=worker.run, daemon=True)
    runner.start()
    wait_for(lambda: fetch(engine, blocker).state is TaskState.RUNNING, what="the blocker")
    wait_for(lambda: any(t.id in claimed for t in behind), what="tasks claimed behind it")
    worker.stop()
    runner.join(timeout=30)
    assert not runner.is_alive()
    held = [task for task in behind if task.id in claimed]
    assert held
    for task in held:
        back = fetch(engine, task)
        assert (back.state, back.attempts) in {(TaskState.QUEUED, 0), (TaskState.SUCCEEDED, 1)}
    assert any(fetch(engine, task).state is TaskState.QUEUED for task in held)


def _job(flags: Flags, handlers: Registry = registry, name: str = "echo") -> Job:
    now = datetime.now(UTC)
    task = Claimed(
        queue_core.TaskId(uuid.uuid4()), queue_core.LeaseToken(uuid.uuid4()), "default",
        "default", name, {}, 1, 3, None, now + timedelta(seconds=30),
    )  # fmt: skip
    return Job(task, handlers.tasks[name], flags)


@pytest.mark.parametrize(
    ("flag", "expected"), [("cancel_requested", "Cancelled"), ("lease_lost", "LeaseLost")]
)
def test_a_task_that_waited_is_not_started_once_cancelled_or_lost(
    engine: Engine, flag: str, expected: str
) -> None:
    outcomes: list[Outcome] = []
    pool = ThreadPool(1, engine, lambda job, outcome: outcomes.append(outcome), schema="taskrow")
    pool.start()
    flags = Flags()
    getattr(flags, flag).set()
    job = _job(flags)
    pool.submit(job)
    wait_for(lambda: outcomes, what="the slot's outcome")
    [outcome] = outcomes
    assert isinstance(outcome, Failed) and outcome.error_type == expected
    assert outcome.retryable is (expected == "LeaseLost")
    assert not job.began  # the handler never ran: a release at a stop would refund it


@pytest.mark.parametrize(
    ("flag", "expected"), [("cancel_requested", "Cancelled"), ("lease_lost", "LeaseLost")]
)
def test_an_async_task_that_waited_is_not_started_once_cancelled_or_lost(
    engine: Engine, flag: str, expected: str
) -> None:
    """One slot, taken by a task that blocks; the one claimed behind it is flagged while it
    waits, then the slot frees: it ends without its coroutine ever running."""
    outcomes: list[tuple[Job, Outcome]] = []
    pool = AsyncPool(1, engine, lambda j, o: outcomes.append((j, o)), schema="taskrow")
    pool.start()
    _release.clear()
    try:
        blocker = _job(Flags(), aio_registry, "ablock")
        waiting = _job(Flags(), aio_registry, "anoop")
        _running_now[:] = [0, 0]
        pool.submit(blocker)
        wait_for(lambda: _running_now[0] == 1, what="the blocker running")
        pool.submit(waiting)
        getattr(waiting.flags, flag).set()
        _release.set()
        wait_for(lambda: len(outcomes) == 2, what="both outcomes")
        job, outcome = next((j, o) for j, o in outcomes if j is waiting)
        assert isinstance(outcome, Failed) and outcome.error_type == expected
        assert outcome.retryable is (expected == "LeaseLost")
        assert not job.began
        assert _running_now[1] == 0  # anoop's coroutine never ran
    finally:
        _release.set()
        pool.close()
