"""``memory``: a worker's resident memory before and after it ran many no-op tasks.

One worker process (thread pool) is started and warmed up on 1,000 tasks (fewer in a tiny
run) (first-use
allocations: connections, caches); its RSS then is the baseline. The tasks are enqueued in
batches while it runs; the RSS once it drained them all, minus the baseline, is the growth.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import psutil

import queue_core

from . import procs, sql
from .drain import enqueue_noops
from .server import queue_database

MIB = 1024 * 1024
WARMUP = 1000


@dataclass(frozen=True)
class Memory:
    started_mib: float
    baseline_mib: float
    final_mib: float
    peak_mib: float

    @property
    def growth_mib(self) -> float:
        return round(self.final_mib - self.baseline_mib, 2)


def memory(server_url: str, n: int, threads: int, *, schema: str) -> Memory:
    url = queue_database(server_url, "taskrow_bench_memory", schema=schema)
    env = {"TASKROW_DATABASE_URL": url, "TASKROW_SCHEMA": schema}
    engine = queue_core.create_engine(url, pool_size=1)

    def succeeded() -> int:
        with engine.connect() as conn:
            return sql.count_state(conn, schema, "succeeded")

    try:
        with procs.running([procs.worker_command(threads, burst=False)], env) as [proc]:
            worker = psutil.Process(proc.pid)
            procs.wait_until(
                lambda: len(worker.net_connections()) > 0, 60, "the worker to connect", watch=[proc]
            )
            started = rss(worker)
            warmup = min(WARMUP, n)
            enqueue_noops(url, warmup, schema=schema)
            procs.wait_until(lambda: succeeded() >= warmup, 120, "the warm-up tasks", watch=[proc])
            baseline = rss(worker)
            peak = baseline
            for start in range(0, n, 10_000):
                enqueue_noops(url, min(10_000, n - start), schema=schema)
                target = warmup + min(n, start + 10_000)
                procs.wait_until(
                    _reached(succeeded, target), 600, "the tasks to run", 0.2, watch=[proc]
                )
                peak = max(peak, rss(worker))
            procs.check_alive([proc], "the taskrow worker")
            final = rss(worker)
    finally:
        engine.dispose()
    return Memory(started, baseline, final, max(peak, final))


def _reached(count: Callable[[], int], target: int) -> Callable[[], bool]:
    return lambda: count() >= target


def rss(process: psutil.Process) -> float:
    return round(process.memory_info().rss / MIB, 2)
