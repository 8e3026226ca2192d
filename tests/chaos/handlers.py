"""Handlers of the chaos workers (``--app tests.chaos.handlers``).

``work`` is the good task (``awork`` its ``async def`` twin, run on the worker's event loop): it
records every execution it finishes in ``chaos_executions``
(task id, attempt, worker pid, start and end time) on a connection of its own, committed before
it returns, so a re-execution is visible even when the completion that followed was lost. Its
result carries the attempt number, so the checker can tell a zombie's overwrite from the last
claim's outcome. The others are poison: each one fails its attempt in its own way.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import resource
import threading
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

import queue_core
from worker import AsyncTaskContext, Registry, TaskContext

RECORD_URL_ENV = "CHAOS_RECORD_URL"
GOOD_ATTEMPTS = 50
POISON_ATTEMPTS = 3
HOG_LIMIT = 256 * 2**20

registry = Registry()
_engines: dict[int, Engine] = {}
_lock = threading.Lock()

EXECUTIONS_DDL = """
CREATE TABLE IF NOT EXISTS chaos_executions (
    task_id uuid NOT NULL,
    attempt integer NOT NULL,
    pid integer NOT NULL,
    started double precision NOT NULL,
    recorded double precision NOT NULL DEFAULT extract(epoch FROM clock_timestamp())
)
"""


def _engine() -> Engine:
    """One small engine per process (a forked child must not share its parent's sockets)."""
    with _lock:
        engine = _engines.get(os.getpid())
        if engine is None:
            url = os.environ[RECORD_URL_ENV]
            engine = queue_core.create_engine(url, pool_size=2, max_overflow=2, pre_ping=True)
            _engines[os.getpid()] = engine
        return engine


def record(ctx: TaskContext | AsyncTaskContext, started: float) -> None:
    """Commit one execution row; raises (failing the attempt) if the database is away."""
    with _engine().begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO chaos_executions (task_id, attempt, pid, started)"
                " VALUES (:id, :attempt, :pid, :started)"
            ),
            {"id": ctx.task_id, "attempt": ctx.attempt, "pid": os.getpid(), "started": started},
        )


@registry.task("work", max_attempts=GOOD_ATTEMPTS)
def work(ctx: TaskContext, n: int, ms: int = 30) -> dict[str, Any]:
    started = time.time()
    time.sleep(ms / 1000)
    record(ctx, started)
    return {"n": n, "attempt": ctx.attempt, "pid": os.getpid()}


@registry.task("awork", max_attempts=GOOD_ATTEMPTS)
async def awork(ctx: AsyncTaskContext, n: int, ms: int = 30) -> dict[str, Any]:
    started = time.time()
    await asyncio.sleep(ms / 1000)
    await asyncio.to_thread(record, ctx, started)
    return {"n": n, "attempt": ctx.attempt, "pid": os.getpid()}


@registry.task("poison.raise", max_attempts=POISON_ATTEMPTS)
def poison_raise(ctx: TaskContext) -> None:
    raise RuntimeError(f"poison raised on attempt {ctx.attempt}")


@registry.task("poison.exit", max_attempts=POISON_ATTEMPTS)
def poison_exit(ctx: TaskContext) -> None:
    os._exit(13)


@registry.task("poison.segfault", max_attempts=POISON_ATTEMPTS)
def poison_segfault(ctx: TaskContext) -> None:
    ctypes.string_at(0)  # reads address 0: SIGSEGV


@registry.task("poison.loop", max_attempts=POISON_ATTEMPTS, timeout=1.0)
def poison_loop(ctx: TaskContext) -> None:
    """Never returns; only the timeout ends it (sleeps in the loop to spare the shared CPUs)."""
    while True:
        time.sleep(0.01)


@registry.task("poison.hog", max_attempts=POISON_ATTEMPTS)
def poison_hog(ctx: TaskContext) -> None:
    """Grows until the address-space limit stops it (MemoryError), as a capped container would.

    The limit is set for this process only (a process-pool child) and put back afterwards.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as statm:
        size = int(statm.read().split()[0]) * resource.getpagesize()
    resource.setrlimit(resource.RLIMIT_AS, (size + HOG_LIMIT, hard))
    hoard: list[bytearray] = []
    try:
        while True:
            hoard.append(bytearray(16 * 2**20))
    finally:
        hoard.clear()
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


# -- poison that escapes ``except Exception`` or the slot, and tasks with one attempt ---------

STARTS_ENV = "CHAOS_STARTS_FILE"


@registry.task("poison.systemexit", max_attempts=POISON_ATTEMPTS)
def poison_systemexit(ctx: TaskContext) -> None:
    raise SystemExit(f"poison exits on attempt {ctx.attempt}")


@registry.task("poison.cancelled", max_attempts=POISON_ATTEMPTS)
def poison_cancelled(ctx: TaskContext) -> None:
    raise asyncio.CancelledError(f"poison cancelled on attempt {ctx.attempt}")


@registry.task("poison.progress", max_attempts=POISON_ATTEMPTS)
def poison_progress(ctx: TaskContext) -> None:
    """Progress the queue refuses (raised here in the thread pool; refused by the parent in the
    process pool), then a failure."""
    with contextlib.suppress(queue_core.InvalidTaskError):
        ctx.progress(1, 2, "x" * 1001)
    raise RuntimeError(f"poison after a refused progress on attempt {ctx.attempt}")


def mark_started(ctx: TaskContext) -> None:
    """Note (in a file, not the database, so a database fault cannot hide it) that a handler
    of this task started: a task with one attempt may end dead only if it did."""
    with open(os.environ[STARTS_ENV], "a") as starts:
        starts.write(f"{ctx.task_id}\n")


@registry.task("once", max_attempts=1)
def once(ctx: TaskContext, ms: int = 100) -> dict[str, Any]:
    """One attempt only: a fault that strands or orphans its claim would end it dead unrun."""
    mark_started(ctx)
    started = time.time()
    ctx.progress(0, 2, "started")
    time.sleep(ms / 1000)
    ctx.progress(1, 2, "slept")
    record(ctx, started)
    return {"attempt": ctx.attempt, "pid": os.getpid()}


@registry.task("once.tx", max_attempts=1)
def once_tx(ctx: TaskContext, ms: int = 100) -> dict[str, Any]:
    """As ``once``, recording its execution in ``ctx.transaction()`` (thread pool only), so the
    record commits with the completion or not at all."""
    mark_started(ctx)
    started = time.time()
    time.sleep(ms / 1000)
    with ctx.transaction() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO chaos_executions (task_id, attempt, pid, started)"
                " VALUES (:id, :attempt, :pid, :started)"
            ),
            {"id": ctx.task_id, "attempt": ctx.attempt, "pid": os.getpid(), "started": started},
        )
    return {"attempt": ctx.attempt, "pid": os.getpid()}


# -- re-drives: a task that fails until an operator re-drives it ------------------------------

REDRIVEN_ENV = "CHAOS_REDRIVEN_FILE"


@registry.task("fickle", max_attempts=2)
def fickle(ctx: TaskContext, ms: int = 50) -> dict[str, Any]:
    """Fails every attempt (so it ends dead) until its id is in the re-drive file, which the
    test writes before it re-drives the task: a re-driven ``fickle`` must end succeeded."""
    with contextlib.suppress(FileNotFoundError), open(os.environ[REDRIVEN_ENV]) as redriven:
        if str(ctx.task_id) in redriven.read().split():
            started = time.time()
            time.sleep(ms / 1000)
            record(ctx, started)
            return {"attempt": ctx.attempt, "pid": os.getpid()}
    raise RuntimeError(f"fickle fails until re-driven (attempt {ctx.attempt})")
