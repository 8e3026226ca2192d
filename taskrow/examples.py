"""Example handlers for `taskrow dev` (and for reading): ``taskrow worker --app taskrow.examples``.

- ``examples.sleep``: sleeps ``seconds`` in steps, reporting progress; stops early when cancelled.
- ``examples.flaky``: fails with a retryable error with probability ``failure_rate``.
- ``examples.noop``: does nothing (for measuring the queue itself).
"""

from __future__ import annotations

import random
import time

from worker import Registry, TaskContext

registry = Registry()


@registry.task("examples.sleep", timeout=600)
def sleep(ctx: TaskContext, seconds: float = 5.0, steps: int = 10) -> dict[str, float]:
    """Sleep ``seconds`` in ``steps`` steps, storing progress after each one."""
    steps = max(1, int(steps))
    for step in range(steps):
        ctx.raise_if_cancelled()
        time.sleep(float(seconds) / steps)
        ctx.progress(step + 1, steps, f"slept {step + 1} of {steps} steps")
    return {"slept": float(seconds)}


class FlakyError(RuntimeError):
    """The simulated transient failure of ``examples.flaky``."""


@registry.task("examples.flaky", max_attempts=5)
def flaky(ctx: TaskContext, failure_rate: float = 0.5) -> dict[str, int]:
    """Fail (retryably) with probability ``failure_rate``; return the attempt that worked."""
    if random.random() < float(failure_rate):  # noqa: S311 - a simulation, not security
        raise FlakyError(f"simulated failure on attempt {ctx.attempt}")
    return {"succeeded_on_attempt": ctx.attempt}


@registry.task("examples.noop")
def noop(ctx: TaskContext) -> None:
    """Nothing at all."""
