"""The handlers the benchmarks run: ``taskrow worker --app taskrow.bench.app``."""

from __future__ import annotations

import time

from worker import Registry, TaskContext

registry = Registry()


@registry.task("noop")
def noop(ctx: TaskContext) -> None:
    """Does nothing: the drain measures the queue, not the handler."""


@registry.task("stamp")
def stamp(ctx: TaskContext) -> dict[str, float]:
    """Returns the wall-clock time at which the handler started (for the wake-up latency)."""
    return {"t": time.time()}


@registry.task("sleep50")
def sleep50(ctx: TaskContext) -> None:
    """I/O-bound work in a thread (the twin of taskrow.bench.aio_app's await50): 50 ms."""
    time.sleep(0.05)
