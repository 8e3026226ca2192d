"""What an ``async def`` handler receives: :class:`AsyncTaskContext`.

The same members as :class:`~worker.TaskContext`, with the ones that do I/O awaitable, so a
handler never blocks its event loop on the database: ``await ctx.progress(...)`` and
``async with ctx.transaction() as conn:`` (a SQLAlchemy ``AsyncConnection``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from queue_core import TaskId

from .context import AttemptView, Flags
from .errors import Cancelled


class AsyncProgressSink(Protocol):
    """Where ``ctx.progress`` goes: returns whether a cancel was requested."""

    def __call__(
        self, current: int | None, total: int | None, message: str | None
    ) -> Awaitable[bool]: ...


AsyncTransactionFactory = Callable[[], contextlib.AbstractAsyncContextManager[AsyncConnection]]


class AsyncTaskContext(AttemptView):
    """The async handler's view of its task: ids, progress, flags, a transaction.

    A cancel request, a lost lease and the timeout cancel the handler's coroutine
    (``asyncio.CancelledError`` is raised at its current ``await``); the flags tell which.
    """

    def __init__(
        self,
        task_id: TaskId,
        task: str,
        attempt: int,
        *,
        flags: Flags,
        progress_sink: AsyncProgressSink,
        transaction_factory: AsyncTransactionFactory,
    ) -> None:
        super().__init__(task_id, task, attempt, flags)
        self._progress_sink = progress_sink
        self._transaction_factory = transaction_factory

    async def progress(
        self, current: int | None, total: int | None = None, message: str | None = None
    ) -> bool:
        """Store progress on the task row (visible to the API); returns ``cancelled``.

        Best effort: a database outage is logged, not raised; a lost lease sets ``lease_lost``.
        """
        if await self._progress_sink(current, total, message):
            self.flags.cancel_requested.set()
        return self.cancelled

    def raise_if_cancelled(self) -> None:
        """Raise :class:`Cancelled` when a cancel was requested: the task ends ``cancelled``."""
        if self.cancelled:
            raise Cancelled(f"task {self.task_id} was cancelled")

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """An async connection whose writes commit together with this task's fenced completion.

        As :meth:`worker.TaskContext.transaction`: held open until the handler returns, then
        completed and committed once, or rolled back (lease lost, exception, cancellation).
        """
        if self.transaction_used:
            raise RuntimeError("ctx.transaction() may be used once per attempt")
        self.transaction_used = True
        async with self._transaction_factory() as conn:
            yield conn
