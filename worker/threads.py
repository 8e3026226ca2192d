"""The thread pool: a fixed set of daemon threads running handlers in the worker process.

Threads are daemons so that a hung handler never keeps the process alive after shutdown
(its lease was released or expires). A handler past its timeout cannot be stopped from outside:
the worker stops heartbeating it, its lease runs out and another worker may run it again.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Iterator

from sqlalchemy.engine import Connection, Engine

import queue_core
from queue_core import DatabaseError, LeaseLost, TaskState

from . import tracing
from .context import TaskContext
from .jobs import Job, OnDone
from .outcome import Failed, Outcome, Recorded, Succeeded, escaped, run_handler, timeout_failure

logger = logging.getLogger(__name__)


class ThreadPool:
    """``size`` threads taking jobs from one queue."""

    queues_jobs = True

    def __init__(self, size: int, engine: Engine, on_done: OnDone, *, schema: str) -> None:
        self._size = size
        self._engine = engine
        self._on_done = on_done
        self._schema = schema
        self._jobs: queue.SimpleQueue[Job] = queue.SimpleQueue()

    def start(self) -> None:
        for i in range(self._size):
            threading.Thread(target=self._serve, name=f"taskrow-slot-{i}", daemon=True).start()

    def submit(self, job: Job) -> None:
        self._jobs.put(job)

    def close(self) -> None:
        """Nothing to join: slot threads are daemons and may be stuck in user code."""

    def _serve(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                with tracing.consumer(job) as span:
                    outcome = self._run(job)
                    tracing.record(span, outcome, job.last_attempt)
            except BaseException as exc:  # noqa: BLE001 - the slot's boundary: nothing strands
                # A handler raised SystemExit, CancelledError, ...: the attempt fails (charged)
                # and a fresh thread takes this one's place.
                logger.error(
                    "slot.failed task_id=%s error_type=%s", job.task.id, type(exc).__name__
                )
                self._on_done(job, escaped(exc))
                self._replace()
                return
            self._on_done(job, outcome)

    def _replace(self) -> None:
        name = threading.current_thread().name
        threading.Thread(target=self._serve, name=name, daemon=True).start()

    def _run(self, job: Job) -> Outcome:
        assert job.spec is not None  # unknown tasks never reach a pool
        refused = job.begin()
        if refused is not None:
            return refused
        tx = HandlerTransaction(self._engine, job, schema=self._schema)
        ctx = TaskContext(
            job.task.id,
            job.task.task,
            job.task.attempts,
            flags=job.flags,
            progress_sink=ProgressWriter(self._engine, job, schema=self._schema),
            transaction_factory=tx.open,
        )
        try:
            outcome = run_handler(job.spec, job.task.args, ctx)
        except BaseException:
            tx.abandon()
            raise
        return tx.finish(outcome) if ctx.transaction_used else outcome


class ProgressWriter:
    """Writes ``ctx.progress`` to the task row in its own short transaction."""

    def __init__(self, engine: Engine, job: Job, *, schema: str) -> None:
        self._engine = engine
        self._job = job
        self._schema = schema

    def __call__(self, current: int | None, total: int | None, message: str | None) -> bool:
        if self._job.flags.lease_lost.is_set():
            return False
        try:
            with queue_core.transaction(self._engine) as conn:
                return queue_core.progress(
                    conn, self._job.lease, current, total, message, schema=self._schema
                )
        except LeaseLost:
            self._job.flags.lease_lost.set()
        except DatabaseError as exc:
            logger.warning("task.progress_failed task_id=%s error=%s", self._job.task.id, exc)
        return False


class HandlerTransaction:
    """The transaction behind ``ctx.transaction()``: held open until the handler returns, then
    completed (fenced) and committed, or rolled back."""

    def __init__(self, engine: Engine, job: Job, *, schema: str) -> None:
        self._engine = engine
        self._job = job
        self._schema = schema
        self._conn: Connection | None = None

    @contextlib.contextmanager
    def open(self) -> Iterator[Connection]:
        with queue_core.translate_errors():
            self._conn = self._engine.connect()
            self._conn.begin()
        yield self._conn

    def finish(self, outcome: Outcome) -> Outcome:
        """Commit the handler's writes with its completion; anything else rolls them back.

        A commit that fails is reported as a retryable ``CommitFailed`` failure, not as a lost
        lease: the failure is fenced like every outcome, so if the commit did happen after all
        (its outcome was unknown) it matches nothing. A success whose timeout fired before the
        commit rolls back and fails with ``TaskTimeout`` (its lease was no longer extended).
        """
        conn, self._conn = self._conn, None
        if conn is None:
            return outcome
        job = self._job
        try:
            if isinstance(outcome, Succeeded) and not job.flags.lease_lost.is_set():
                if job.flags.timed_out.is_set():
                    _rollback(conn)
                    return timeout_failure(job.timeout or 0.0)
                return self._complete(conn, outcome)
            _rollback(conn)
            return Recorded(None) if isinstance(outcome, Succeeded) else outcome
        except DatabaseError as exc:
            logger.warning("task.commit_failed task_id=%s error=%s", job.task.id, exc)
            return Failed(
                "CommitFailed", f"the handler's transaction did not commit: {exc}", retryable=True
            )
        finally:
            with contextlib.suppress(Exception):
                conn.close()

    def abandon(self) -> None:
        """Roll back and close the transaction of a handler that raised past the boundary."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def _complete(self, conn: Connection, outcome: Succeeded) -> Outcome:
        with queue_core.translate_errors():
            applied = queue_core.complete_many(
                conn, [(self._job.lease, outcome.result)], schema=self._schema
            )
            if not applied:
                conn.rollback()
                return Recorded(None)
            if self._job.flags.timed_out.is_set():  # fired while the completion ran
                conn.rollback()
                job = self._job
                return timeout_failure(job.timeout or 0.0)
            conn.commit()
        return Recorded(TaskState.SUCCEEDED)


def _rollback(conn: Connection) -> None:
    """Roll back; a connection already dead has nothing left to roll back."""
    with contextlib.suppress(DatabaseError), queue_core.translate_errors():
        conn.rollback()
