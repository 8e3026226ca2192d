"""``enqueue-bulk``: rows/s through ``queue_core.enqueue_many`` (or ``enqueue_many_ids``), one
connection, one transaction (a durable commit) per batch."""

from __future__ import annotations

import time

import queue_core
from queue_core import NewTask

from .server import queue_database


def bulk_once(server_url: str, n: int, batch: int, *, schema: str, ids_only: bool = False) -> float:
    url = queue_database(server_url, "taskrow_bench_bulk", schema=schema)
    engine = queue_core.create_engine(url, pool_size=1)
    try:
        batches = [
            [NewTask(task="noop", args={"n": i}) for i in range(start, min(n, start + batch))]
            for start in range(0, n, batch)
        ]
        started = time.perf_counter()
        for news in batches:
            with engine.begin() as conn:
                if ids_only:
                    queue_core.enqueue_many_ids(conn, news, schema=schema)
                else:
                    queue_core.enqueue_many(conn, news, schema=schema)
        seconds = time.perf_counter() - started
    finally:
        engine.dispose()
    return n / seconds
