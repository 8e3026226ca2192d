"""taskrow's worker runtime: stateless processes that lease, run, heartbeat and record tasks.

Register handlers on a :class:`Registry` (or the default one through :func:`task` and
:func:`periodic`); a handler is called as ``fn(ctx, **args)`` with a :class:`TaskContext`, an
``async def`` one with an :class:`AsyncTaskContext` (it runs on the worker's event loop).
Run them with :class:`Worker` (or ``taskrow worker --app MODULE[:REGISTRY]``). See
:mod:`worker.errors` for the error tree and docs/worker.md for the whole picture.
"""

from .aio_context import AsyncTaskContext
from .config import SUCCESS_LINES_PER_SECOND, WorkerConfig
from .context import TaskContext
from .errors import (
    AppError,
    Cancelled,
    Fail,
    RegistryError,
    Retry,
    TransactionUnavailable,
    WorkerError,
)
from .logs import configure as configure_logging
from .logs import formatter as log_formatter
from .loop import EXIT_OK, EXIT_RELEASED, Worker
from .metrics import Metrics
from .registry import PeriodicSpec, Registry, TaskSpec, load_app, periodic, registry, task

__all__ = [
    "EXIT_OK",
    "EXIT_RELEASED",
    "SUCCESS_LINES_PER_SECOND",
    "AppError",
    "AsyncTaskContext",
    "Cancelled",
    "Fail",
    "Metrics",
    "PeriodicSpec",
    "Registry",
    "RegistryError",
    "Retry",
    "TaskContext",
    "TaskSpec",
    "TransactionUnavailable",
    "Worker",
    "WorkerConfig",
    "WorkerError",
    "configure_logging",
    "load_app",
    "log_formatter",
    "periodic",
    "registry",
    "task",
]
