"""A claimed task on its way through a pool, and the pool interface both pools implement."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from queue_core import Claimed, Lease

from .context import Flags
from .outcome import Failed, Outcome
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

    def begin(self) -> Failed | None:
        """Called by a slot as it takes the job: the attempt's clock starts here (a task
        claimed ahead waited for the slot), and it is marked begun (a release at shutdown then
        keeps the attempt charged). Returns instead, without beginning, the outcome of a task
        that must not start: its lease was lost while it waited (another worker may hold it;
        recording is fenced, so nothing is written) or its cancel was requested (it ends
        ``cancelled`` without running)."""
        if self.flags.lease_lost.is_set():
            return Failed("LeaseLost", "the lease was lost before the attempt started", None, True)
        if self.flags.cancel_requested.is_set():
            return Failed("Cancelled", "the task was cancelled before it started", None, False)
        self.started = time.monotonic()
        self.began = True
        return None

    @property
    def last_attempt(self) -> bool:
        """Whether this attempt is the task's last, so that a failure ends it: the attempt
        budget is the row's ``max_attempts`` (which the database applies, fail.sql), capped by
        the handler's registration. The one place the worker decides it."""
        budget = self.task.max_attempts
        if self.spec is not None:
            budget = min(budget, self.spec.max_attempts)
        return self.task.attempts >= budget

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
    """Runs jobs concurrently; reports each outcome through the ``on_done`` it was built with.

    ``queues_jobs``: whether jobs submitted beyond its slots wait, unstarted, for one (then
    the worker may claim ahead; see ``worker.loop``)."""

    @property
    def queues_jobs(self) -> bool: ...

    def start(self) -> None: ...

    def submit(self, job: Job) -> None: ...

    def close(self) -> None: ...
