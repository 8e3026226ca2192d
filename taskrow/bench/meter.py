"""What a drain costs, per task: client CPU, Postgres CPU, WAL bytes and transactions.

CPU counts seconds of user + system time, not wall time, so the figures hold on a busy
machine far better than rates do. Postgres CPU is the postmaster's own time plus that of its
children, live or exited (``/proc``'s cumulative child times): it needs the server on this
machine and readable processes (root, or the server's own user); otherwise it is left out.
It covers every database of that server, so it means most on the benchmark's own server.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import psutil
from sqlalchemy import text

import queue_core


@dataclass(frozen=True)
class Reading:
    wal_lsn: str
    transactions: int
    server_cpu: float | None  # seconds
    client_cpu: float  # seconds: this process's waited-for children (the worker processes)


def read(url: str) -> Reading:
    engine = queue_core.create_engine(url, pool_size=1)
    try:
        with engine.connect() as conn:
            lsn = conn.execute(text("SELECT pg_current_wal_lsn()::text")).scalar_one()
            transactions = conn.execute(
                text("SELECT sum(xact_commit + xact_rollback)::bigint FROM pg_stat_database")
            ).scalar_one()
            backend = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
            server = _server_cpu(int(backend))  # while the backend still exists
    finally:
        engine.dispose()
    times = os.times()
    children = times.children_user + times.children_system
    return Reading(str(lsn), int(transactions), server, children)


def per_task(
    url: str, before: Reading, after: Reading, n: int, *, client_cpu: float
) -> dict[str, float | None]:
    """Costs per task between two readings; ``client_cpu``: the seconds the client's
    processes spent on the ``n`` tasks."""
    engine = queue_core.create_engine(url, pool_size=1)
    try:
        with engine.connect() as conn:
            wal = conn.execute(
                text("SELECT pg_wal_lsn_diff(CAST(:a AS pg_lsn), CAST(:b AS pg_lsn))"),
                {"a": after.wal_lsn, "b": before.wal_lsn},
            ).scalar_one()
    finally:
        engine.dispose()
    server = (
        None
        if before.server_cpu is None or after.server_cpu is None
        else after.server_cpu - before.server_cpu
    )
    return {
        "client_cpu_us_per_task": round(max(client_cpu, 0.0) * 1e6 / n, 1),
        "server_cpu_us_per_task": None if server is None else round(server * 1e6 / n, 1),
        "wal_bytes_per_task": round(float(wal) / n, 1),
        "transactions_per_task": round((after.transactions - before.transactions) / n, 4),
    }


def summary(costs: dict[str, float | None]) -> str:
    """One line for a table: client and server CPU, WAL and transactions per task."""
    server = costs["server_cpu_us_per_task"]
    return (
        f"client {costs['client_cpu_us_per_task']:.0f} us, "
        f"postgres {'-' if server is None else f'{server:.0f}'} us, "
        f"WAL {costs['wal_bytes_per_task']:.0f} B, "
        f"{costs['transactions_per_task']:.3f} transactions"
    )


def _server_cpu(backend_pid: int) -> float | None:
    with contextlib.suppress(psutil.Error):
        postmaster = psutil.Process(backend_pid).parent()
        if postmaster is None:
            return None
        own = postmaster.cpu_times()
        total = own.user + own.system + own.children_user + own.children_system
        for child in postmaster.children():
            with contextlib.suppress(psutil.Error):
                times = child.cpu_times()
                total += times.user + times.system
        return total
    return None
