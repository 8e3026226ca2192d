"""``enqueue-bulk``: rows/s through ``queue_core.enqueue_many`` (or ``enqueue_many_ids``), one
transaction (a durable commit) per batch, from one connection or several loading in parallel
(threads of this process, each with its own connection)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import queue_core
from queue_core import NewTask

from .server import queue_database


def bulk_once(
    server_url: str,
    n: int,
    batch: int,
    *,
    schema: str,
    ids_only: bool = False,
    writers: int = 1,
) -> float:
    url = queue_database(server_url, "taskrow_bench_bulk", schema=schema)
    engine = queue_core.create_engine(url, pool_size=writers)
    try:
        batches = [
            [NewTask(task="noop", args={"n": i}) for i in range(start, min(n, start + batch))]
            for start in range(0, n, batch)
        ]
        with engine.connect():  # opened before the clock starts, like the others below
            pass
        ready = threading.Barrier(writers + 1)

        def load(mine: list[list[NewTask]]) -> None:
            with engine.connect() as conn:
                ready.wait()
                for news in mine:
                    with conn.begin():
                        if ids_only:
                            queue_core.enqueue_many_ids(conn, news, schema=schema)
                        else:
                            queue_core.enqueue_many(conn, news, schema=schema)

        with ThreadPoolExecutor(writers) as pool:
            futures = [pool.submit(load, batches[i::writers]) for i in range(writers)]
            ready.wait()
            started = time.perf_counter()
            for future in futures:
                future.result()
            seconds = time.perf_counter() - started
    finally:
        engine.dispose()
    return n / seconds
