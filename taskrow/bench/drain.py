"""``drain``: N no-op tasks pre-enqueued, worker processes drain them; tasks/s.

A layout ``PxC`` is P worker processes (``taskrow worker --burst``) with C handler threads
each. The rate counts from the first claim to the last acknowledgement (database timestamps),
so process start-up is not in it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import queue_core
from queue_core import NewTask

from . import procs, sql
from .server import queue_database


@dataclass(frozen=True)
class Layout:
    processes: int
    threads: int

    @classmethod
    def parse(cls, text: str) -> Layout:
        processes, _, threads = text.lower().partition("x")
        try:
            layout = cls(int(processes), int(threads))
        except ValueError:
            raise ValueError(f"layout {text!r}: write PROCESSESxTHREADS, e.g. 2x8") from None
        if layout.processes < 1 or layout.threads < 1:
            raise ValueError(f"layout {text!r}: both numbers must be at least 1")
        return layout

    def __str__(self) -> str:
        return f"{self.processes}x{self.threads}"


def enqueue_noops(url: str, n: int, *, schema: str, task: str = "noop") -> None:
    engine = queue_core.create_engine(url, pool_size=1)
    try:
        with engine.begin() as conn:
            for start in range(0, n, 10_000):
                size = min(10_000, n - start)
                news = [NewTask(task=task) for _ in range(size)]
                queue_core.enqueue_many(conn, news, schema=schema)
    finally:
        engine.dispose()


def drain_url(
    url: str, n: int, layout: Layout, *, schema: str, env: dict[str, str] | None = None
) -> float:
    """Drain the ``n`` tasks queued in ``url``; returns tasks/s (counting only the tasks that
    finish from now on, so earlier history in the table is left out). ``env``: more settings
    of the worker processes."""
    env = {"TASKROW_DATABASE_URL": url, "TASKROW_SCHEMA": schema, **(env or {})}
    command = procs.worker_command(layout.threads, burst=True)
    engine = queue_core.create_engine(url, pool_size=1)
    started = datetime.now(UTC)
    try:
        with procs.running([command] * layout.processes, env) as workers:
            deadline = time.monotonic() + 60 + n / 200
            while any(w.poll() is None for w in workers) and time.monotonic() < deadline:
                time.sleep(0.1)
            procs.check_alive(workers, "a taskrow worker")
        with engine.connect() as conn:
            done, seconds = sql.drain_window(conn, schema, since=started)
    finally:
        engine.dispose()
    if done < n:
        raise procs.BenchError(f"the workers drained {done} of {n} tasks")
    return n / seconds if seconds > 0 else float("inf")


def drain_once(
    server_url: str, n: int, layout: Layout, *, schema: str, env: dict[str, str] | None = None
) -> float:
    url = queue_database(server_url, "taskrow_bench_drain", schema=schema)
    enqueue_noops(url, n, schema=schema)
    return drain_url(url, n, layout, schema=schema, env=env)
