"""The statements the benchmarks read and seed the task table with.

Measurement only: creating throw-away databases, reading the timestamps of a drain, and
seeding history in one ``INSERT ... SELECT generate_series`` (a million rows through the
enqueue API would take minutes). The queue itself is only ever driven through queue_core.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.engine import Connection

import queue_core


def recreate_database(server_url: str, name: str) -> None:
    """Drop and create database ``name`` on the server (autocommit: no transaction allowed)."""
    engine = queue_core.create_engine(server_url, pool_size=1)
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()


def drop_database(server_url: str, name: str) -> None:
    engine = queue_core.create_engine(server_url, pool_size=1)
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


def drain_window(conn: Connection, schema: str, *, since: datetime) -> tuple[int, float]:
    """Tasks that succeeded after ``since``, and the seconds from the first claim among them to
    the last acknowledgement."""
    row = conn.execute(
        text(
            "SELECT count(*), coalesce(extract(epoch FROM max(finished_at) - min(started_at)), 0)"
            f" FROM {schema}.tasks WHERE state = 'succeeded' AND finished_at >= :since"
        ),
        {"since": since},
    ).one()
    return int(row[0]), float(row[1])


def count_state(conn: Connection, schema: str, state: str) -> int:
    return int(
        conn.execute(
            text(f"SELECT count(*) FROM {schema}.tasks WHERE state = :state"), {"state": state}
        ).scalar_one()
    )


def stamps(conn: Connection, schema: str) -> dict[str, float]:
    """Task id -> the handler start time that the ``stamp`` handler returned."""
    rows = conn.execute(
        text(f"SELECT id::text, (result->>'t')::float8 FROM {schema}.tasks WHERE task = 'stamp'")
    )
    return {str(r[0]): float(r[1]) for r in rows if r[1] is not None}


def seed_history(conn: Connection, schema: str, finished: int, future: int) -> None:
    """``finished`` succeeded tasks (finished over the last day) and ``future`` queued tasks
    scheduled a day ahead, on the default queue, then VACUUM ANALYZE by the caller."""
    conn.execute(
        text(
            f"INSERT INTO {schema}.tasks (id, queue, task, state, attempts, created_at,"
            " started_at, finished_at, run_at, result)"
            " SELECT gen_random_uuid(), 'default', 'noop', 'succeeded', 1,"
            " now() - interval '1 day' + g * interval '50 ms',"
            " now() - interval '1 day' + g * interval '50 ms',"
            " now() - interval '1 day' + g * interval '50 ms' + interval '5 ms',"
            " now() - interval '1 day' + g * interval '50 ms', 'null'::jsonb"
            " FROM generate_series(1, :n) AS g"
        ),
        {"n": finished},
    )
    conn.execute(
        text(
            f"INSERT INTO {schema}.tasks (id, queue, task, state, run_at)"
            " SELECT gen_random_uuid(), 'default', 'noop', 'queued',"
            " now() + interval '1 day' + g * interval '1 ms'"
            " FROM generate_series(1, :n) AS g"
        ),
        {"n": future},
    )


def vacuum_analyze(server_url: str, schema: str) -> None:
    engine = queue_core.create_engine(server_url, pool_size=1)
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.execute(text(f"VACUUM ANALYZE {schema}.tasks"))
    finally:
        engine.dispose()
