"""``drain``: N no-op tasks pre-enqueued, worker processes drain them; tasks/s.

A layout ``PxC`` is P worker processes (``taskrow worker --burst``) with concurrency C
each; ``1x10`` is what ``taskrow worker`` does with no options. The rate counts from the
first claim to the last acknowledgement (database timestamps), so process start-up is not in
it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

import queue_core
from queue_core import NewTask

from . import meter, procs, sql
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


DEFAULT_LAYOUT = Layout(1, 10)  # taskrow worker's defaults: one process, --concurrency 10


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


class Drained(NamedTuple):
    rate: float  # tasks/s
    costs: dict[str, float | None]  # per task: see meter.per_task


def drain_url(
    url: str,
    n: int,
    layout: Layout,
    *,
    schema: str,
    app: str = procs.APP,
    env: dict[str, str] | None = None,
) -> float:
    """Drain the ``n`` tasks queued in ``url``; returns tasks/s (counting only the tasks that
    finish from now on, so earlier history in the table is left out). ``env``: more settings
    of the worker processes."""
    return drain_measured(url, n, layout, schema=schema, app=app, env=env).rate


def startup_cpu(server_url: str, *, schema: str) -> float:
    """CPU seconds of one ``taskrow worker --burst`` that finds nothing to do: start-up and
    shutdown, left out of a drain's cost per task."""
    url = queue_database(server_url, "taskrow_bench_idle", schema=schema)
    before = os.times()
    with procs.running([procs.worker_command(1, burst=True)], _env(url, schema)) as workers:
        procs.wait_until(lambda: all(w.poll() is not None for w in workers), 60, "an idle worker")
        procs.check_alive(workers, "a taskrow worker")
    after = os.times()
    return (after.children_user + after.children_system) - (
        before.children_user + before.children_system
    )


def _env(url: str, schema: str) -> dict[str, str]:
    return {"TASKROW_DATABASE_URL": url, "TASKROW_SCHEMA": schema}


def drain_measured(
    url: str,
    n: int,
    layout: Layout,
    *,
    schema: str,
    startup: float = 0.0,
    app: str = procs.APP,
    env: dict[str, str] | None = None,
) -> Drained:
    """:func:`drain_url`, with what the drain cost per task (CPU, WAL, transactions); each
    process's ``startup`` CPU seconds are left out of the client's."""
    env = {**_env(url, schema), **(env or {})}
    command = procs.worker_command(layout.threads, burst=True, app=app)
    engine = queue_core.create_engine(url, pool_size=1)
    started = datetime.now(UTC)
    before = meter.read(url)
    try:
        with procs.running([command] * layout.processes, env) as workers:
            deadline = time.monotonic() + 60 + n / 200
            while any(w.poll() is None for w in workers) and time.monotonic() < deadline:
                time.sleep(0.1)
            procs.check_alive(workers, "a taskrow worker")
        after = meter.read(url)
        with engine.connect() as conn:
            done, seconds = sql.drain_window(conn, schema, since=started)
    finally:
        engine.dispose()
    if done < n:
        raise procs.BenchError(f"the workers drained {done} of {n} tasks")
    rate = n / seconds if seconds > 0 else float("inf")
    client = after.client_cpu - before.client_cpu - layout.processes * startup
    return Drained(rate, meter.per_task(url, before, after, n, client_cpu=client))


def drain_once(
    server_url: str,
    n: int,
    layout: Layout,
    *,
    schema: str,
    startup: float = 0.0,
    task: str = "noop",
    app: str = procs.APP,
    env: dict[str, str] | None = None,
) -> Drained:
    url = queue_database(server_url, "taskrow_bench_drain", schema=schema)
    enqueue_noops(url, n, schema=schema, task=task)
    return drain_measured(url, n, layout, schema=schema, startup=startup, app=app, env=env)
