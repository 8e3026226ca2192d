"""Recovery time under a backlog: a killed worker's tasks must be re-run about one lease after
the kill, not after every task that became due while their lease was running out.

The claim orders candidates by ``priority DESC, run_at, id``, and while a task runs its
``run_at`` is its lease expiry, so an expired task's place in line is the moment its lease ran
out: behind every queued task that was already due then. Under a backlog the tasks a killed
worker held (which were at the head of the line when first claimed) wait for the backlog to
drain, so recovery grows with the backlog instead of staying within lease + 2 s.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

import queue_core

from ..support import wait_for
from .cluster import Cluster

pytestmark = pytest.mark.slow  # the chaos suite: faults under load

LONG_MS = 15000
BACKLOG = 80
BACKLOG_MS = 300


def _enqueue(cluster: Cluster, count: int, ms: int, first: int) -> list[str]:
    with cluster.engine.begin() as conn:
        return [
            str(queue_core.enqueue(conn, "work", {"n": first + i, "ms": ms}, max_attempts=50).id)
            for i in range(count)
        ]


def _rows(cluster: Cluster, ids: list[str]) -> list[sa.Row[tuple[str, str, str, float]]]:
    with cluster.engine.connect() as conn:
        return list(
            conn.execute(
                sa.text(
                    "SELECT id::text, state, worker_id, extract(epoch FROM started_at)::float"
                    " FROM taskrow.tasks WHERE id = ANY(CAST(:ids AS uuid[]))"
                ),
                {"ids": ids},
            )
        )


def test_killed_workers_tasks_are_reclaimed_within_lease_despite_a_backlog(
    cluster: Cluster,
) -> None:
    cluster.add_workers(1, concurrency=2)
    holder = cluster.workers[0]
    held = _enqueue(cluster, 2, LONG_MS, 0)
    wait_for(
        lambda: all(
            r[1] == "running" and r[2].startswith(holder.worker_id) for r in _rows(cluster, held)
        ),
        timeout=30,
        what="the first worker to hold both long tasks",
    )
    cluster.add_workers(1, concurrency=2)  # keeps draining the backlog after the kill
    _enqueue(cluster, BACKLOG, BACKLOG_MS, 100)
    event = cluster.kill_worker(holder)
    assert event.held == frozenset(held)
    wait_for(
        lambda: all(r[1] == "succeeded" for r in _rows(cluster, held)),
        timeout=90,
        what="the killed worker's tasks to succeed again",
    )
    reclaimed = max(r[3] for r in _rows(cluster, held)) - event.at
    assert reclaimed <= cluster.lease + 2.0, (
        f"the killed worker's tasks were claimed again {reclaimed:.1f} s after the kill "
        f"(lease {cluster.lease:g} s; {event.backlog} queued tasks were due at the kill): "
        "they waited behind the backlog"
    )
