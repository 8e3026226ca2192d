"""Handlers the worker tests run (``--app tests.worker.handlers``)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

import queue_core
from worker import Fail, Registry, Retry, TaskContext

registry = Registry()


@registry.task("noop")
def noop(ctx: TaskContext) -> None:
    return None


@registry.task("echo")
def echo(ctx: TaskContext, **args: Any) -> dict[str, Any]:
    return {"args": args, "attempt": ctx.attempt}


@registry.task("block", max_attempts=5)
def block(ctx: TaskContext, release: str) -> dict[str, Any]:
    """Reports progress, then waits until the file ``release`` exists (or a cancel)."""
    ctx.progress(1, 2, "started")
    while not Path(release).exists():
        ctx.raise_if_cancelled()
        time.sleep(0.01)
    return {"pid": os.getpid(), "attempt": ctx.attempt, "lease_lost": ctx.lease_lost}


@registry.task("hang")
def hang(ctx: TaskContext) -> None:
    time.sleep(3600)


@registry.task("die", max_attempts=10)
def die(ctx: TaskContext) -> None:
    os._exit(7)


@registry.task("flaky", max_attempts=5)
def flaky(ctx: TaskContext, failures: int) -> int:
    if ctx.attempt <= failures:
        raise Retry(0, f"failing attempt {ctx.attempt}")
    return ctx.attempt


@registry.task("later")
def later(ctx: TaskContext) -> None:
    raise Retry(3600)


@registry.task("refuse")
def refuse(ctx: TaskContext) -> None:
    raise Fail("this input can never work")


@registry.task("picky", retry_on=(OSError,), max_attempts=5)
def picky(ctx: TaskContext, kind: str) -> None:
    raise OSError("transient") if kind == "io" else ValueError("a bug")


@registry.task("not_json")
def not_json(ctx: TaskContext) -> object:
    return {"when": object()}


@registry.task("write_then_steal")
def write_then_steal(ctx: TaskContext, url: str, marker: str, steal: bool) -> dict[str, str]:
    """Inserts a row in the task's own transaction; with ``steal`` another worker takes the
    lease before the handler returns, so the insert must roll back with the completion."""
    with ctx.transaction() as conn:
        conn.execute(sa.text("INSERT INTO side_effects (marker) VALUES (:m)"), {"m": marker})
    if steal:
        engine = queue_core.create_engine(url, pool_size=1)
        try:
            with engine.begin() as other:
                other.execute(
                    sa.text(
                        "UPDATE taskrow.tasks SET run_at = now() - interval '1 s' WHERE id = :id"
                    ),
                    {"id": ctx.task_id},
                )
                assert queue_core.claim(other, ["default"], 1, worker_id="thief")
        finally:
            engine.dispose()
    return {"marker": marker}


@registry.task("exit_slot", max_attempts=2)
def exit_slot(ctx: TaskContext, kind: str) -> None:
    """Raises what ``except Exception`` does not catch."""
    if kind == "cancelled":
        raise asyncio.CancelledError("cancelled inside the handler")
    raise SystemExit(3)


@registry.task("long_progress", max_attempts=1)
def long_progress(ctx: TaskContext) -> str:
    """Reports progress the queue refuses (a message over 1,000 characters), then succeeds."""
    with contextlib.suppress(queue_core.InvalidTaskError):  # raised to it in the thread pool
        ctx.progress(1, 2, "x" * 1001)
    return "done"


@registry.task("pid")
def pid(ctx: TaskContext) -> int:
    return os.getpid()


@registry.task("rollback_on_dead_connection", max_attempts=1)
def rollback_on_dead_connection(ctx: TaskContext, url: str) -> None:
    """Its transaction's connection is killed under it, then it fails: the rollback fails too."""
    with ctx.transaction() as conn:
        backend = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
    engine = queue_core.create_engine(url, pool_size=1)
    try:
        with engine.begin() as other:
            other.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": backend})
    finally:
        engine.dispose()
    raise ValueError("failing after the connection died")


@registry.task("commit_refused", max_attempts=1)
def commit_refused(ctx: TaskContext) -> str:
    """Writes what a deferred constraint refuses at commit: the commit certainly fails."""
    with ctx.transaction() as conn:
        conn.execute(sa.text("INSERT INTO deferred_unique (k) VALUES (1), (1)"))
    return "never stored"


@registry.task("sized")
def sized(ctx: TaskContext, n: int) -> str:
    """Returns a string of ``n`` characters (``n + 2`` bytes of JSON)."""
    return "x" * n


@registry.task("slow_transaction", max_attempts=1, timeout=1)
def slow_transaction(ctx: TaskContext, marker: str) -> str:
    """Writes in its transaction, then returns only once its timeout fired."""
    with ctx.transaction() as conn:
        conn.execute(sa.text("INSERT INTO side_effects (marker) VALUES (:m)"), {"m": marker})
    deadline = time.monotonic() + 30
    while not ctx.timed_out and time.monotonic() < deadline:
        time.sleep(0.01)
    return marker


@registry.task("nap")
def nap(ctx: TaskContext, seconds: float) -> None:
    """Takes ``seconds``: longer than a worker claims ahead for when over 0.05."""
    time.sleep(seconds)


@registry.task("type_error", max_attempts=3)
def type_error(ctx: TaskContext, n: int) -> None:
    """Its arguments bind; its body raises TypeError (a bug of the handler, retried)."""
    raise TypeError(f"cannot add {n!r} and a string")


#: The calls a wrapper's own code made (the ``wrapped`` handler below).
wrapper_calls: list[str] = []


def recorded(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(ctx: TaskContext, *args: Any, **kwargs: Any) -> Any:
        wrapper_calls.append(str(ctx.task_id))
        return fn(ctx, *args, **kwargs)

    return wrapper


@registry.task("wrapped")
@recorded
def wrapped(ctx: TaskContext, n: int) -> int:
    return n
