"""Drain N no-op tasks with one in-process worker, for a profiler to look at.

    py-spy record -o prof.svg -- .venv/bin/python benchmarks/profile_worker.py [N] [THREADS] [LEVEL]

Starts an embedded Postgres (or uses TASKROW_DATABASE_URL's server), enqueues N no-op tasks,
then runs ``worker.Worker`` in burst mode with logging as ``taskrow worker`` sets it up
(text lines on stderr at LEVEL, default INFO: redirect them), and prints the drain rate.
"""

from __future__ import annotations

import logging
import os
import sys
import time

import queue_core
from taskrow.bench import app, server
from taskrow.bench.drain import enqueue_noops
from worker import Worker, WorkerConfig, configure_logging


def main(n: int = 20_000, threads: int = 50, level: str = "INFO") -> None:
    with server.server(os.environ.get("TASKROW_DATABASE_URL")) as server_url:
        url = server.queue_database(server_url, "taskrow_bench_profile", schema="taskrow")
        enqueue_noops(url, n, schema="taskrow")
        configure_logging("text", getattr(logging, level))
        engine = queue_core.create_engine(url, pool_size=threads + 2, pre_ping=False)
        config = WorkerConfig(
            queues=("default",),
            concurrency=threads,
            burst=True,
            durable=os.environ.get("DURABLE", "1") == "1",
        )
        started = time.perf_counter()
        Worker(app.registry, engine, config, database_url=url).run()
        elapsed = time.perf_counter() - started
        engine.dispose()
    print(f"{n} tasks in {elapsed:.2f} s: {n / elapsed:,.0f} tasks/s", file=sys.__stdout__)


if __name__ == "__main__":
    args = sys.argv[1:]
    main(*(int(a) for a in args[:2]), *args[2:3])
