"""``history``: the drain rate with finished and future-scheduled tasks in the table, over the
rate on an empty table (the claim must not slow down as history grows)."""

from __future__ import annotations

import queue_core

from . import sql
from .drain import Layout, drain_url, enqueue_noops
from .server import queue_database


def seeded_database(server_url: str, finished: int, future: int, *, schema: str) -> str:
    """A fresh migrated database holding the history, vacuumed and analysed; its URL."""
    url = queue_database(server_url, "taskrow_bench_history", schema=schema)
    engine = queue_core.create_engine(url, pool_size=1)
    try:
        with engine.begin() as conn:
            sql.seed_history(conn, schema, finished, future)
    finally:
        engine.dispose()
    sql.vacuum_analyze(url, schema)
    return url


def drain_with_history(url: str, n: int, layout: Layout, *, schema: str) -> float:
    """Enqueue and drain ``n`` more tasks in the seeded database (earlier drains add history)."""
    enqueue_noops(url, n, schema=schema)
    return drain_url(url, n, layout, schema=schema)


def drain_empty(server_url: str, n: int, layout: Layout, *, schema: str) -> float:
    url = queue_database(server_url, "taskrow_bench_empty", schema=schema)
    enqueue_noops(url, n, schema=schema)
    return drain_url(url, n, layout, schema=schema)
