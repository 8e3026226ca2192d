"""Async handlers mixed with sync ones (``--app tests.worker.async_handlers``)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

import queue_core
from worker import AsyncTaskContext, Fail, Registry, Retry, TaskContext

registry = Registry()


@registry.task("sync_echo")
def sync_echo(ctx: TaskContext, **args: Any) -> dict[str, Any]:
    return {"args": args, "thread": threading.current_thread().name}


@registry.task("asleep")
async def asleep(ctx: AsyncTaskContext, seconds: float) -> dict[str, Any]:
    await asyncio.sleep(seconds)
    return {"attempt": ctx.attempt, "thread": threading.current_thread().name}


@registry.task("ablock", max_attempts=5)
async def ablock(ctx: AsyncTaskContext, release: str, marker: str = "") -> dict[str, Any]:
    """Reports progress, then awaits the file ``release``; touches ``marker`` when cancelled."""
    await ctx.progress(1, 2, "started")
    try:
        while not Path(release).exists():
            await asyncio.sleep(0.01)
    except asyncio.CancelledError:
        if marker:
            Path(marker).write_text(f"cancelled attempt {ctx.attempt}")
        raise
    return {"pid": os.getpid(), "attempt": ctx.attempt}


@registry.task("ahang")
async def ahang(ctx: AsyncTaskContext, marker: str) -> None:
    """Awaits for an hour; writes ``marker`` when its coroutine is cancelled."""
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        Path(marker).write_text(f"timed_out={ctx.timed_out} lease_lost={ctx.lease_lost}")
        raise


@registry.task("ablocking")
async def ablocking(ctx: AsyncTaskContext, seconds: float) -> dict[str, Any]:
    """A blocking call inside an async handler: freezes the loop for ``seconds``."""
    time.sleep(seconds)
    return {"attempt": ctx.attempt}


@registry.task("aflaky", max_attempts=5)
async def aflaky(ctx: AsyncTaskContext, failures: int) -> int:
    await asyncio.sleep(0)
    if ctx.attempt <= failures:
        raise Retry(0, f"failing attempt {ctx.attempt}")
    return ctx.attempt


@registry.task("arefuse")
async def arefuse(ctx: AsyncTaskContext) -> None:
    raise Fail("this input can never work")


@registry.task("apicky", retry_on=(OSError,), max_attempts=5)
async def apicky(ctx: AsyncTaskContext, kind: str) -> None:
    raise OSError("transient") if kind == "io" else ValueError("a bug")


@registry.task("anot_json")
async def anot_json(ctx: AsyncTaskContext) -> object:
    return {"when": object()}


@registry.task("awrite", max_attempts=5)
async def awrite(
    ctx: AsyncTaskContext, marker: str, release: str = "", steal_url: str = ""
) -> dict[str, Any]:
    """Awaits ``release`` (if given), inserts ``marker`` in the task's own transaction; with
    ``steal_url`` another worker takes the lease first, so the insert must roll back."""
    await ctx.progress(1, 2, "started")
    while release and not Path(release).exists():
        await asyncio.sleep(0.01)
    async with ctx.transaction() as conn:
        await conn.execute(
            sa.text("INSERT INTO side_effects (marker, pid) VALUES (:m, :p)"),
            {"m": marker, "p": os.getpid()},
        )
    if steal_url:
        await asyncio.to_thread(steal, steal_url, ctx.task_id)
    return {"marker": marker, "pid": os.getpid(), "attempt": ctx.attempt}


def steal(url: str, task_id: object) -> None:
    engine = queue_core.create_engine(url, pool_size=1)
    try:
        with engine.begin() as other:
            other.execute(
                sa.text("UPDATE taskrow.tasks SET run_at = now() - interval '1 s' WHERE id = :id"),
                {"id": task_id},
            )
            assert queue_core.claim(other, ["default"], 1, worker_id="thief")
    finally:
        engine.dispose()


#: A sync callable that returns a coroutine (so it registers as sync): refused when it returns.
registry.task("wrapped_async")(lambda ctx: asleep(ctx, 0))


@registry.task("aexit")
async def aexit(ctx: AsyncTaskContext) -> None:
    """Raises what asyncio would carry out of the loop if nothing caught it."""
    raise SystemExit(f"attempt {ctx.attempt} exits")
