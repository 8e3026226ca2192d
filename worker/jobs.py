"""A claimed task on its way through a pool, and the pool interface both pools implement."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from queue_core import Claimed, Lease

from .context import Flags
from .outcome import Outcome
from .registry import TaskSpec


class Job:
    """One running attempt. ``timeout`` (seconds) comes from the row, else from the spec."""

    __slots__ = ("began", "flags", "lease", "spec", "started", "task")

    def __init__(self, task: Claimed, spec: TaskSpec | None, flags: Flags | None = None) -> None:
        self.task = task
        self.spec = spec
        self.lease: Lease = task.lease
        self.flags = Flags() if flags is None else flags
        self.started = time.monotonic()
        #: Set by the slot just before the handler is called: a release then keeps the attempt.
        self.began = False

    @property
    def timeout(self) -> float | None:
        if self.task.timeout_seconds is not None:
            return float(self.task.timeout_seconds)
        return None if self.spec is None else self.spec.timeout

    @property
    def deadline(self) -> float | None:
        timeout = self.timeout
        return None if timeout is None else self.started + timeout

    def elapsed(self) -> float:
        return time.monotonic() - self.started


OnDone = Callable[[Job, Outcome], None]


class Pool(Protocol):
    """Runs jobs concurrently; reports each outcome through the ``on_done`` it was built with."""

    def start(self) -> None: ...

    def submit(self, job: Job) -> None: ...

    def close(self) -> None: ...
