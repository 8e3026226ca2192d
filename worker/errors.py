"""Every error the worker package defines, as one tree.

::

    WorkerError             root: catch this to catch everything below
    ├── Retry               raised by a handler: retry this task after ``delay`` seconds
    ├── Fail                raised by a handler: fail this task now, for good (ends ``dead``)
    │   └── TransactionUnavailable  ``ctx.transaction()`` in the process pool: can never work
    ├── Cancelled           raised by ``ctx.raise_if_cancelled()``: the task ends ``cancelled``
    ├── RegistryError       a handler or schedule could not be registered (bad name, duplicate)
    └── AppError            ``--app MODULE[:REGISTRY]`` could not be loaded

Errors from the queue itself (database trouble, lost leases) are queue_core's own tree; the
worker handles them, handlers normally never see them.
"""

from __future__ import annotations

from datetime import timedelta


class WorkerError(Exception):
    """Root of every error the worker package defines."""


class Retry(WorkerError):
    """Raise from a handler to retry the task after ``delay`` seconds (attempts permitting).

    ``delay`` is seconds or a timedelta; with None (or an unusable value) the queue's jittered
    exponential backoff applies. When the task has
    used up its attempts it ends ``dead`` like any other failure.
    """

    def __init__(
        self, delay: float | timedelta | None = None, message: str = "retry requested"
    ) -> None:
        super().__init__(message)
        self.delay = delay


class Fail(WorkerError):
    """Raise from a handler to fail the task permanently: it ends ``dead`` with this message."""


class TransactionUnavailable(Fail):
    """``ctx.transaction()`` was called where it cannot work (the process pool): the task ends
    ``dead`` at once instead of failing the same way on every attempt."""


class Cancelled(WorkerError):
    """Raised by ``ctx.raise_if_cancelled()`` once a cancel was requested: ends ``cancelled``."""


class RegistryError(WorkerError, ValueError):
    """A handler or periodic schedule could not be registered; the message says why."""


class AppError(WorkerError):
    """The application given with ``--app`` could not be imported or holds no registry."""
