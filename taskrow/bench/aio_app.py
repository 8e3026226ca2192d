"""The handlers of the async benchmarks: ``taskrow worker --app taskrow.bench.aio_app``.

Only ``async def`` handlers, as an asyncio application registers: its worker runs them all on
its event loop and claims ahead while they are quick (a registry mixing sync handlers is not
claimed ahead; see docs/worker.md). The sync twin of ``await50`` is ``taskrow.bench.app``'s
``sleep50``."""

from __future__ import annotations

import asyncio
import time

from worker import AsyncTaskContext, Registry

registry = Registry()
IO_SECONDS = 0.05


@registry.task("anoop")
async def anoop(ctx: AsyncTaskContext) -> None:
    """Does nothing, on the worker's event loop: the async drain measures the queue."""


@registry.task("stamp")
async def stamp(ctx: AsyncTaskContext) -> dict[str, float]:
    """The wake-up latency's handler, async: the wall-clock time at which it started."""
    return {"t": time.time()}


@registry.task("await50")
async def await50(ctx: AsyncTaskContext) -> None:
    """I/O-bound work, async: awaits 50 ms."""
    await asyncio.sleep(IO_SECONDS)
