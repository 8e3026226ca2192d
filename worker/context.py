"""What a handler receives besides its args: :class:`TaskContext`.

The flags are set by the worker from outside the handler (its heartbeat learns about cancel
requests and lost leases), so a long handler should look at them between steps.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Protocol

from sqlalchemy.engine import Connection

from queue_core import TaskId

from .errors import Cancelled, TransactionUnavailable


class ProgressSink(Protocol):
    """Where ``ctx.progress`` goes: returns whether a cancel was requested."""

    def __call__(self, current: int | None, total: int | None, message: str | None) -> bool: ...


TransactionFactory = Callable[[], contextlib.AbstractContextManager[Connection]]


class EventLike(Protocol):
    """A flag: a :class:`Flag` in the worker, a bit of shared memory in a pool child."""

    def is_set(self) -> bool: ...

    def set(self) -> None: ...

    def clear(self) -> None: ...


class Flag:
    """A flag between threads of one process: nobody waits on it, so no lock is needed (reading
    and writing a bool attribute are atomic), and it costs far less than a threading.Event.
    Unset until ``set()`` gives the instance its own value (no ``__init__`` to run: a worker
    makes three flags for every task it claims)."""

    _value = False

    def is_set(self) -> bool:
        return self._value

    def set(self) -> None:
        self._value = True

    def clear(self) -> None:
        self._value = False


class Flags:
    """Cancel / lease-lost / timed-out flags shared between the worker and one running task."""

    __slots__ = ("cancel_requested", "lease_lost", "timed_out")

    def __init__(
        self,
        cancel_requested: EventLike | None = None,
        lease_lost: EventLike | None = None,
        timed_out: EventLike | None = None,
    ) -> None:
        self.cancel_requested: EventLike = Flag() if cancel_requested is None else cancel_requested
        self.lease_lost: EventLike = Flag() if lease_lost is None else lease_lost
        self.timed_out: EventLike = Flag() if timed_out is None else timed_out


class AttemptView:
    """What every handler's context says of its attempt, sync or async: ids and flags.

    ``attempt`` counts from 1. ``cancelled`` turns true once a cancel was requested (seen at
    the next heartbeat or progress call); ``lease_lost`` once the worker lost the lease: the
    task may already be running elsewhere and whatever this handler returns is discarded.
    """

    def __init__(self, task_id: TaskId, task: str, attempt: int, flags: Flags) -> None:
        self.task_id = task_id
        self.task = task
        self.attempt = attempt
        self.flags = flags
        self.transaction_used = False

    @property
    def cancelled(self) -> bool:
        return self.flags.cancel_requested.is_set()

    @property
    def lease_lost(self) -> bool:
        return self.flags.lease_lost.is_set()

    @property
    def timed_out(self) -> bool:
        """True once the task ran past its timeout (thread pool: it is no longer heartbeated)."""
        return self.flags.timed_out.is_set()


class TaskContext(AttemptView):
    """The handler's view of its task: ids, progress reporting, flags, a transaction
    (:class:`AttemptView` for the ids and flags)."""

    def __init__(
        self,
        task_id: TaskId,
        task: str,
        attempt: int,
        *,
        flags: Flags,
        progress_sink: ProgressSink,
        transaction_factory: TransactionFactory | None = None,
    ) -> None:
        super().__init__(task_id, task, attempt, flags)
        self._progress_sink = progress_sink
        self._transaction_factory = transaction_factory

    def progress(
        self, current: int | None, total: int | None = None, message: str | None = None
    ) -> bool:
        """Store progress on the task row now (visible to the API); returns ``cancelled``.

        Best effort: a database outage is logged, not raised; a lost lease sets ``lease_lost``.
        """
        if self._progress_sink(current, total, message):
            self.flags.cancel_requested.set()
        return self.cancelled

    def raise_if_cancelled(self) -> None:
        """Raise :class:`Cancelled` when a cancel was requested: the task ends ``cancelled``."""
        if self.cancelled:
            raise Cancelled(f"task {self.task_id} was cancelled")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A connection whose writes commit together with this task's fenced completion.

        The transaction stays open after the block until the handler returns; the worker then
        records the result in it and commits once. If the lease was lost by then, or the
        handler raises, everything rolls back. Use it at most once per attempt, near the end of
        the handler (its locks are held until the handler returns). Thread pool only.
        """
        if self._transaction_factory is None:
            raise TransactionUnavailable(
                "ctx.transaction() is available in the thread pool only: run this task's "
                "worker with --pool thread, or open your own database connection in the handler"
            )
        if self.transaction_used:
            raise RuntimeError("ctx.transaction() may be used once per attempt")
        self.transaction_used = True
        with self._transaction_factory() as conn:
            yield conn
