"""The event loop: ``async def`` handlers, hundreds at once, in one thread of the worker process.

The loop runs in a thread of its own, so the worker's control thread (rounds, heartbeats) never
waits on it: a handler that blocks the loop (a sync call inside ``async def``) stalls the other
async handlers, not the worker. A watchdog thread notices such a stall and logs
``worker.loop_blocked`` (with the task whose coroutine holds the loop), and while it lasts it
flags the attempts that pass their timeout, so their leases are no longer extended.

A sweep on the loop cancels the coroutine of an attempt whose cancel was requested, whose lease
was lost, or whose timeout passed: ``asyncio.CancelledError`` is raised inside the handler at
its current ``await``, and the attempt ends ``cancelled``, is discarded, or fails with
``TaskTimeout``. Progress and ``ctx.transaction()`` use an async engine of the loop's own.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

import queue_core
from queue_core import DatabaseError, Lease, LeaseLost, TaskState

from .aio_context import AsyncTaskContext
from .jobs import Job, OnDone, Pool
from .kinds import is_async
from .logs import task_event
from .outcome import (
    Failed,
    Outcome,
    Recorded,
    Succeeded,
    bad_arguments,
    binds_at_call,
    checked_result,
    escaped,
    timeout_failure,
    unbound_or_classified,
)
from .registry import Registry, TaskSpec

logger = logging.getLogger(__name__)

#: A loop that does not answer within this many seconds is logged as blocked.
LOOP_BLOCKED_SECONDS = 0.5
#: How often the loop looks for attempts to cancel, and the watchdog pings the loop.
SWEEP_SECONDS = 0.1
#: At close, how long cancelled handlers get to unwind before the loop stops.
CLOSE_SECONDS = 5.0
#: Progress writes share at most this many connections, however many handlers run.
PROGRESS_CONNECTIONS = 8

_TIMEOUT, _CANCEL, _LEASE_LOST = "timeout", "cancel", "lease_lost"
_BLOCKED = "worker.loop_blocked task_id=%s task=%s blocked_for=%.3f"
_UNBLOCKED = "worker.loop_unblocked task_id=%s task=%s duration=%.3f"


async def run_async_handler(
    spec: TaskSpec, args: dict[str, Any], ctx: AsyncTaskContext
) -> Succeeded | Failed:
    """Await ``spec.fn(ctx, **args)`` and classify the result or exception, as
    :func:`worker.outcome.run_handler` does; ``CancelledError`` propagates."""
    unbound = None if binds_at_call(spec.fn) else bad_arguments(spec, args, ctx)
    if unbound is not None:
        return unbound
    try:
        result = await spec.fn(ctx, **args)
    except Exception as exc:  # noqa: BLE001 - user code's exceptions, as in run_handler
        return unbound_or_classified(exc, spec, args, ctx)
    return checked_result(result)


class AsyncPool:
    """Runs async handlers on an event loop in a thread of its own, at most ``size`` at once
    (the worker's concurrency); the tasks a worker claims ahead wait, unstarted, for one of
    them to end. ``size`` also sizes the async engine."""

    queues_jobs = True

    def __init__(
        self,
        size: int,
        engine: Engine,
        on_done: OnDone,
        *,
        schema: str,
        blocked_after: float = LOOP_BLOCKED_SECONDS,
    ) -> None:
        self._size = size
        self._url = engine.url.render_as_string(hide_password=False)
        self._pooler = queue_core.pooler_of(engine)  # behind PgBouncer: the same switch
        self._on_done = on_done
        self._schema = schema
        self._blocked_after = blocked_after
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._closed = threading.Event()
        self._lock = threading.Lock()  # guards _running, read by the watchdog thread
        self._running: dict[asyncio.Task[None], Job] = {}
        self._waiting: collections.deque[Job] = collections.deque()  # claimed ahead
        self._reasons: dict[Lease, str] = {}  # why an attempt's coroutine was cancelled
        self._settling: set[Lease] = set()  # handler returned: its commit is not cancelled
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._engine: AsyncEngine | None = None
        self._progress_slots: asyncio.Semaphore | None = None

    # -- the Pool interface (called from the control thread) -------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name="taskrow-aio", daemon=True)
        self._thread.start()
        while not self._ready.wait(0.1):
            if not self._thread.is_alive():
                raise RuntimeError("the worker's event loop failed to start (see the log)")
        threading.Thread(target=self._watch, name="taskrow-aio-watchdog", daemon=True).start()

    def submit(self, job: Job) -> None:
        self._loop.call_soon_threadsafe(self._begin, job)

    def close(self) -> None:
        """Cancel what still runs (its lease was released or is lost), then stop the loop."""
        if self._closed.is_set():
            return
        self._closed.set()
        if self._stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=CLOSE_SECONDS + 1)  # a blocked loop: leave the daemon
        if self._thread is None or not self._thread.is_alive():
            self._loop.close()  # its selector and self-pipe sockets

    # -- the loop's thread ------------------------------------------------------------------

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        except Exception:
            logger.exception("worker.loop_failed")
            raise

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        self._engine = queue_core.create_async_engine(
            self._url,
            pool_size=min(self._size, PROGRESS_CONNECTIONS),
            max_overflow=self._size,
            pooler=self._pooler,
        )
        self._progress_slots = asyncio.Semaphore(PROGRESS_CONNECTIONS)
        self._ready.set()
        sweeper = asyncio.create_task(self._sweep())
        await self._stop.wait()
        sweeper.cancel()
        tasks = list(self._running)
        for task in tasks:
            task.cancel("worker stopping")
        if tasks:
            await asyncio.wait(tasks, timeout=CLOSE_SECONDS)
        await self._engine.dispose()

    def _begin(self, job: Job) -> None:
        if len(self._running) >= self._size:
            self._waiting.append(job)
        else:
            self._start(job)

    def _start(self, job: Job) -> None:
        refused = job.begin()  # lost or cancelled while it waited: not started
        if refused is not None:
            self._on_done(job, refused)
            return
        task = self._loop.create_task(self._run(job), name=f"taskrow-task-{job.task.id}")
        with self._lock:
            self._running[task] = job

    def _start_waiting(self) -> None:
        """Start the tasks claimed ahead while slots are free (none once the pool closes: the
        worker releases them, refunded)."""
        while self._waiting and len(self._running) < self._size and not self._closed.is_set():
            self._start(self._waiting.popleft())

    async def _run(self, job: Job) -> None:
        outcome: Outcome
        try:
            outcome = await self._attempt(job)
        except BaseException as exc:  # noqa: BLE001 - the slot's boundary: nothing strands
            # A handler raised SystemExit, KeyboardInterrupt, ... (which asyncio would carry out
            # of the loop, stopping every other task), or running the attempt failed: the
            # attempt fails, charged, and the loop goes on.
            logger.error("slot.failed task_id=%s error_type=%s", job.task.id, type(exc).__name__)
            outcome = escaped(exc)
        finally:
            with self._lock:
                self._running.pop(asyncio.current_task(), None)  # type: ignore[arg-type]
            self._reasons.pop(job.lease, None)
            self._settling.discard(job.lease)
        self._on_done(job, outcome)
        self._start_waiting()

    async def _attempt(self, job: Job) -> Outcome:
        assert job.spec is not None and self._engine is not None
        tx = _Transaction(self._engine, job, schema=self._schema)
        ctx = AsyncTaskContext(
            job.task.id,
            job.task.task,
            job.task.attempts,
            flags=job.flags,
            progress_sink=_Progress(self, job),
            transaction_factory=tx.open,
        )
        outcome: Outcome
        try:
            outcome = await run_async_handler(job.spec, job.task.args, ctx)
        except asyncio.CancelledError:
            outcome = self._cancelled(job)
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()  # handled: the commit or rollback below runs normally
        self._settling.add(job.lease)
        if not ctx.transaction_used:
            return outcome
        return await tx.finish(outcome)

    def _cancelled(self, job: Job) -> Failed:
        """The outcome of an attempt whose coroutine the sweep (or the stop) cancelled."""
        reason = self._reasons.get(job.lease)
        if reason == _TIMEOUT:
            return timeout_failure(job.timeout or 0.0)
        if reason == _CANCEL:
            message = f"task {job.task.id} was cancelled while it ran"
            return Failed("Cancelled", message, retryable=False)
        # Lease lost, or released at shutdown: this outcome is discarded (flags.lease_lost).
        return Failed("LeaseLost", "the attempt was stopped: its lease was lost", retryable=True)

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                self._cancel_due(time.monotonic())
            except Exception:  # keep sweeping: a cancellation missed now is retried next time
                logger.exception("worker.sweep_failed")

    def _cancel_due(self, now: float) -> None:
        for task, job in list(self._running.items()):
            if job.lease in self._reasons or job.lease in self._settling:
                continue
            reason = _stop_reason(job, now)
            if reason is not None:
                self._reasons[job.lease] = reason
                if reason == _TIMEOUT:
                    _flag_timeout(job)
                task.cancel(reason)

    async def progress(
        self, job: Job, current: int | None, total: int | None, message: str | None
    ) -> bool:
        """Write ``ctx.progress`` in a short transaction of its own; True if cancel requested."""
        assert self._engine is not None and self._progress_slots is not None
        if job.flags.lease_lost.is_set():
            return False
        try:
            async with self._progress_slots, queue_core.atransaction(self._engine) as conn:
                return await queue_core.aprogress(
                    conn, job.lease, current, total, message, schema=self._schema
                )
        except LeaseLost:
            job.flags.lease_lost.set()
        except DatabaseError as exc:
            logger.warning("task.progress_failed task_id=%s error=%s", job.task.id, exc)
        return False

    # -- the watchdog's thread --------------------------------------------------------------

    def _watch(self) -> None:
        """Ping the loop; log a stall past ``blocked_after`` and flag timeouts while it lasts."""
        while not self._closed.wait(SWEEP_SECONDS):
            answered = threading.Event()
            started = time.monotonic()
            try:
                self._loop.call_soon_threadsafe(answered.set)
            except RuntimeError:  # the loop was closed
                return
            if answered.wait(self._blocked_after):
                continue
            job = self._current_job()
            _log_loop(_BLOCKED, job, "blocked_for", time.monotonic() - started)
            while not answered.wait(SWEEP_SECONDS):
                if self._closed.is_set():
                    return
                self._flag_overdue(time.monotonic())
            _log_loop(_UNBLOCKED, job, "duration", time.monotonic() - started)

    def _current_job(self) -> Job | None:
        task = asyncio.current_task(self._loop)  # the coroutine holding the loop right now
        with self._lock:
            return None if task is None else self._running.get(task)

    def _flag_overdue(self, now: float) -> None:
        """While the loop is blocked: stop heartbeating the attempts past their timeout."""
        with self._lock:
            jobs = list(self._running.values())
        for job in jobs:
            deadline = job.deadline
            if deadline is not None and now >= deadline:
                _flag_timeout(job)


class _Progress:
    """``ctx.progress`` of one attempt."""

    def __init__(self, pool: AsyncPool, job: Job) -> None:
        self._pool = pool
        self._job = job

    async def __call__(self, current: int | None, total: int | None, message: str | None) -> bool:
        return await self._pool.progress(self._job, current, total, message)


class _Transaction:
    """The transaction behind an async ``ctx.transaction()``: held open until the handler
    returns, then completed (fenced, the sync path's statement) and committed, or rolled back."""

    def __init__(self, engine: AsyncEngine, job: Job, *, schema: str) -> None:
        self._engine = engine
        self._job = job
        self._schema = schema
        self._conn: AsyncConnection | None = None

    @contextlib.asynccontextmanager
    async def open(self) -> AsyncIterator[AsyncConnection]:
        with queue_core.translate_errors():
            self._conn = await self._engine.connect()
            await self._conn.begin()
        yield self._conn

    async def finish(self, outcome: Outcome) -> Outcome:
        """Commit the handler's writes with its completion; anything else rolls them back."""
        conn, self._conn = self._conn, None
        if conn is None:
            return outcome
        try:
            if isinstance(outcome, Succeeded) and not self._job.flags.lease_lost.is_set():
                return await self._complete(conn, outcome)
            with contextlib.suppress(DatabaseError), queue_core.translate_errors():
                await conn.rollback()  # a failed rollback leaves nothing committed either
            return Recorded(None) if isinstance(outcome, Succeeded) else outcome
        except DatabaseError as exc:
            # Rolled back or unknown: the lease expires and the task runs again (at least once).
            logger.warning("task.commit_failed task_id=%s error=%s", self._job.task.id, exc)
            return Recorded(None)
        finally:
            with contextlib.suppress(Exception):
                await conn.close()

    async def _complete(self, conn: AsyncConnection, outcome: Succeeded) -> Outcome:
        with queue_core.translate_errors():
            applied = await queue_core.acomplete_many(
                conn, [(self._job.lease, outcome.result)], schema=self._schema
            )
            if not applied:
                await conn.rollback()
                return Recorded(None)
            await conn.commit()
        return Recorded(TaskState.SUCCEEDED)


class MixedPool:
    """Async handlers to the :class:`AsyncPool`, the others to the thread or process pool."""

    def __init__(self, sync: Pool | None, aio: AsyncPool) -> None:
        self._sync = sync
        self._aio = aio
        self._kinds: dict[str, bool] = {}
        # Tasks claimed ahead wait for a slot only when one pool runs them all: with both,
        # each pool's slots would admit up to the worker's concurrency at once.
        self.queues_jobs = sync is None

    def start(self) -> None:
        self._aio.start()
        if self._sync is not None:
            self._sync.start()

    def submit(self, job: Job) -> None:
        assert job.spec is not None  # unknown tasks never reach a pool
        kind = self._kinds.get(job.spec.name)
        if kind is None:
            kind = self._kinds[job.spec.name] = is_async(job.spec.fn)
        if kind or self._sync is None:
            self._aio.submit(job)  # with no sync handler registered there is no sync pool
        else:
            self._sync.submit(job)

    def close(self) -> None:
        self._aio.close()
        if self._sync is not None:
            self._sync.close()


def kinds_of(registry: Registry) -> tuple[bool, bool]:
    """Whether ``registry`` holds (sync handlers or none at all, async handlers)."""
    flags = [is_async(spec.fn) for spec in registry.tasks.values()]
    return (not all(flags) or not flags, any(flags))


def _stop_reason(job: Job, now: float) -> str | None:
    if job.flags.lease_lost.is_set():
        return _LEASE_LOST
    if job.flags.cancel_requested.is_set():
        return _CANCEL
    deadline = job.deadline
    if job.flags.timed_out.is_set() or (deadline is not None and now >= deadline):
        return _TIMEOUT
    return None


def _log_loop(message: str, job: Job | None, key: str, seconds: float) -> None:
    """A line about the loop (``message`` starts with its event name), naming the task whose
    coroutine held it (``-`` if none)."""
    task_id, name = (str(job.task.id), job.task.task) if job else ("-", "-")
    fields: dict[str, object] = {"event": message.split(" ", 1)[0], "task_id": task_id}
    fields.update(task=name, **{key: round(seconds, 3)})
    logger.warning(message, task_id, name, seconds, extra={"fields": fields})


def _flag_timeout(job: Job) -> None:
    if not job.flags.timed_out.is_set():
        job.flags.timed_out.set()
        task_event("task.timed_out", job, logging.WARNING, timeout=job.timeout)
