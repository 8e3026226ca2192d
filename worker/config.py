"""The worker's settings: one frozen value, built at the CLI edge and passed down."""

from __future__ import annotations

import dataclasses
import os
import secrets
import socket
from typing import Literal

from queue_core import DEFAULT_SCHEMA

#: The default of ``WorkerConfig.success_lines`` (``task.succeeded`` lines a second).
SUCCESS_LINES_PER_SECOND = 100


def default_worker_id() -> str:
    """``host:pid:suffix``, the suffix random per process start (6 hex digits).

    Host name and pid alone are not unique: two containers can share a host name, and each
    worker there may be pid 1. Adoption (``queue_core.adopt``) and the workers table match this
    id, so two workers sharing it could run each other's claims; the suffix keeps it unique
    while host and pid stay readable in logs and on the dashboard.
    """
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclasses.dataclass(frozen=True)
class WorkerConfig:
    """How one worker runs.

    ``lease`` (seconds) is how long a claim holds a task without a heartbeat; heartbeats go out
    every ``lease / 3``. ``poll_interval`` (seconds, jittered ±25%) is the fallback when no
    notification arrives (the only wake-up with ``listen=False``). ``grace`` (seconds) is how
    long a graceful stop waits for in-flight tasks before releasing them.

    ``prefetch`` is how many tasks a worker may claim beyond its ``concurrency`` while its
    handlers are quick (see :attr:`claim_ahead`); they wait in the worker, unstarted, for a
    slot. None: three times ``concurrency``; 0: never claim ahead.

    ``success_lines`` is how many ``task.succeeded`` lines a second the worker logs at most;
    the successes beyond are counted in one ``task.succeeded_count`` line a second (see
    :class:`worker.logs.SuccessLines`). None: a line for every success.
    """

    queues: tuple[str, ...]
    concurrency: int = 10
    pool: Literal["thread", "process"] = "thread"
    lease: float = 30.0
    poll_interval: float = 1.0
    listen: bool = True
    burst: bool = False
    grace: float = 30.0
    schema: str = DEFAULT_SCHEMA
    worker_id: str = dataclasses.field(default_factory=default_worker_id)
    durable: bool = True
    max_tasks_per_child: int | None = None
    max_child_memory_mb: int | None = None
    prefetch: int | None = None
    success_lines: int | None = SUCCESS_LINES_PER_SECOND

    def __post_init__(self) -> None:
        if not self.queues:
            raise ValueError("queues: give at least one queue")
        if self.concurrency < 1:
            raise ValueError("concurrency: must be at least 1")
        if self.lease < 1:
            raise ValueError("lease: must be at least 1 second")
        if self.prefetch is not None and self.prefetch < 0:
            raise ValueError("prefetch: must be 0 or more")
        if self.success_lines is not None and self.success_lines < 0:
            raise ValueError("success_lines: must be 0 or more")

    @property
    def claim_ahead(self) -> int:
        """The most tasks claimed beyond ``concurrency`` (``prefetch``, by default three
        times ``concurrency``)."""
        return 3 * self.concurrency if self.prefetch is None else self.prefetch

    @property
    def heartbeat_interval(self) -> float:
        return self.lease / 3
