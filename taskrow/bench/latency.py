"""``latency``: enqueue -> handler start at a fixed rate with idle workers listening.

One producer connection enqueues one task per transaction at ``rate`` per second; the
``stamp`` handler returns its start time. A task's latency runs from the return of its
enqueue (committed, so visible and notified) to its handler's start: the wake-up path
(NOTIFY, claim, dispatch), measured the same way for PgQueuer. The first second is left out.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from sqlalchemy.engine import Engine

import queue_core

from . import procs, sql
from .server import queue_database


@dataclass(frozen=True)
class Latency:
    samples: int
    p50_ms: float
    p99_ms: float
    max_ms: float


def summarize(ms: list[float]) -> Latency:
    ms = sorted(ms)
    if not ms:
        raise procs.BenchError("no latency samples")
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return Latency(len(ms), round(statistics.median(ms), 3), round(p99, 3), round(ms[-1], 3))


def latency(
    server_url: str,
    rate: float,
    seconds: float,
    threads: int,
    *,
    schema: str,
    app: str = procs.APP,
) -> Latency:
    """``app``'s ``stamp`` handler (sync in taskrow.bench.app, async in its aio_app)."""
    url = queue_database(server_url, "taskrow_bench_latency", schema=schema)
    env = {"TASKROW_DATABASE_URL": url, "TASKROW_SCHEMA": schema}
    engine = queue_core.create_engine(url, pool_size=2)
    command = procs.worker_command(threads, burst=False, app=app)
    try:
        with procs.running([command], env) as workers:
            _enqueue(engine, schema)  # warm-up: the worker is up and listening once it ran
            procs.wait_until(
                lambda: _succeeded(engine, schema) == 1, 60, "the worker to start", watch=workers
            )
            committed = _produce(engine, rate, seconds, schema)
            total = len(committed) + 1
            procs.wait_until(
                lambda: _succeeded(engine, schema) >= total,
                60 + seconds,
                "the tasks to run",
                watch=workers,
            )
            procs.check_alive(workers, "the taskrow worker")
        with engine.connect() as conn:
            started = sql.stamps(conn, schema)
    finally:
        engine.dispose()
    warmup = int(rate)
    measured = list(committed.items())[warmup:]
    return summarize([(started[i] - t) * 1000 for i, t in measured if i in started])


def _produce(engine: Engine, rate: float, seconds: float, schema: str) -> dict[str, float]:
    committed: dict[str, float] = {}
    begin = time.perf_counter()
    for i in range(int(rate * seconds)):
        delay = begin + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        task_id = _enqueue(engine, schema)
        committed[task_id] = time.time()
    return committed


def _enqueue(engine: Engine, schema: str) -> str:
    with engine.begin() as conn:
        return str(queue_core.enqueue(conn, "stamp", None, schema=schema).id)


def _succeeded(engine: Engine, schema: str) -> int:
    with engine.connect() as conn:
        return sql.count_state(conn, schema, "succeeded")
