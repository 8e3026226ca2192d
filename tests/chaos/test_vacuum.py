"""Vacuum pressure: a long transaction in another session pins the xmin horizon, so the dead
row versions that every claim and completion leave behind cannot be vacuumed away, and each
claim's index scan wades through more of them. This scenario churns the queue in-process
(enqueue, claim, complete, in short transactions) before, during and after such a transaction,
and reports the claim rate and the dead tuples of each phase.

What it asserts is the mechanism, which is deterministic: with the old snapshot open, VACUUM
cannot remove the churned row versions; once it ends, VACUUM does. The claim rates are reported,
not asserted (this machine's two cores are shared). docs/reliability.md lists the Postgres
settings that keep such a transaction from living long.
"""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

import queue_core
from queue_core import NewTask

from . import scenarios
from .cluster import Cluster

pytestmark = pytest.mark.slow  # the chaos suite: a long transaction under load

PHASE_SECONDS = 4.0
BATCH = 200
CLAIM = 10


def churn(cluster: Cluster, seconds: float) -> float:
    """Enqueue, claim (CLAIM at a time) and complete tasks for ``seconds``; claims per second."""
    claimed = 0
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        with cluster.engine.begin() as conn:
            queue_core.enqueue_many(conn, [NewTask("churn") for _ in range(BATCH)])
        while True:
            with cluster.engine.begin() as conn:
                tasks = queue_core.claim(conn, ["default"], CLAIM, worker_id="churn")
                queue_core.complete_many(conn, [(t.lease, None) for t in tasks], durable=False)
            claimed += len(tasks)
            if len(tasks) < CLAIM:
                break
    return claimed / (time.monotonic() - start)


def dead_after_vacuum(cluster: Cluster) -> int:
    """VACUUM the tasks table, then the dead row versions it had to leave."""
    autocommit = cluster.engine.execution_options(isolation_level="AUTOCOMMIT")
    with autocommit.connect() as conn:
        conn.execute(sa.text("VACUUM taskrow.tasks"))
        conn.execute(sa.text("SELECT pg_stat_force_next_flush()"))
    with autocommit.connect() as conn:
        conn.execute(sa.text("SELECT pg_stat_clear_snapshot()"))
        return int(
            conn.execute(
                sa.text(
                    "SELECT n_dead_tup FROM pg_stat_user_tables"
                    " WHERE schemaname = 'taskrow' AND relname = 'tasks'"
                )
            ).scalar_one()
        )


def test_a_long_transaction_pins_dead_rows_and_slows_claims(cluster: Cluster) -> None:
    base = churn(cluster, PHASE_SECONDS)
    holder = cluster.engine.connect()
    try:
        holder.execute(sa.text("SELECT txid_current()"))  # an open transaction with an xid
        held = [churn(cluster, PHASE_SECONDS) for _ in range(2)]
        pinned = dead_after_vacuum(cluster)
    finally:
        holder.rollback()
        holder.close()
    freed = dead_after_vacuum(cluster)
    after = churn(cluster, PHASE_SECONDS)
    rows = [
        ("no long transaction", f"{base:.0f}", "-"),
        (f"long transaction open, first {PHASE_SECONDS:g} s", f"{held[0]:.0f}", "-"),
        (f"long transaction open, next {PHASE_SECONDS:g} s", f"{held[1]:.0f}", f"{pinned}"),
        ("after it ended and VACUUM ran", f"{after:.0f}", f"{freed}"),
    ]
    table = "vacuum pressure: claims/s and dead tuples left by VACUUM\n" + "\n".join(
        f"{a:<40} {b:>8} claims/s   dead after VACUUM {c}" for a, b, c in rows
    )
    scenarios.REPORTS.append(table)
    print(f"\n{table}\n")
    assert pinned > 1000, f"VACUUM removed the churned rows despite the open transaction\n{table}"
    assert freed < pinned / 10, f"VACUUM still could not remove dead rows\n{table}"
