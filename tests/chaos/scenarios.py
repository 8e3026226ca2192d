"""The fault scenarios, shared by the bounded suite (test_chaos.py) and the soak (soak.py).

Each scenario runs load against a :class:`Cluster` while a fault function hits it, waits for the
load to end, lets the queue settle (restarting dead workers, as a supervisor would), then runs
the checker. Timings assume a lease of about 2 s.
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

import queue_core

from .checker import check, check_slots, read_acknowledged, slots_unfinished, unfinished
from .cluster import Cluster
from .report import Report

#: Every table printed this session, shown again at the end of the pytest run.
REPORTS: list[str] = []

Mix = list[dict[str, Any]]
#: Good work, half of it by sync handlers (threads), half by async ones (the event loop).
GOOD: Mix = [
    {"body": {"task": task, "args": {"ms": 30}, "max_attempts": 50}, "weight": 1}
    for task in ("work", "awork")
]
SLOW: Mix = [
    {"body": {"task": task, "args": {"ms": 250}, "max_attempts": 50}, "weight": 1}
    for task in ("work", "awork")
]
POISON_KINDS = ("poison.raise", "poison.exit", "poison.segfault", "poison.loop", "poison.hog")
POISONED: Mix = [
    {"body": {"task": "work", "args": {"ms": 20}, "max_attempts": 50}, "weight": 80},
    *({"body": {"task": kind}, "weight": 4} for kind in POISON_KINDS),
]
#: Poison that escapes ``except Exception`` or the slot (thread pool), tasks with one attempt
#: (with progress, and in ctx.transaction()), among the good work.
THREAD_POISON_KINDS = ("poison.systemexit", "poison.cancelled", "poison.progress")
MIXED_KINDS: Mix = [
    {"body": {"task": "work", "args": {"ms": 250}, "max_attempts": 50}, "weight": 80},
    {"body": {"task": "once", "args": {"ms": 150}, "max_attempts": 1}, "weight": 10},
    {"body": {"task": "once.tx", "args": {"ms": 150}, "max_attempts": 1}, "weight": 6},
    *({"body": {"task": kind}, "weight": 1} for kind in THREAD_POISON_KINDS),
]
#: MIXED_KINDS with tasks that fail until re-driven (``fickle``: they end dead unless a
#: re-drive reaches them, and must then succeed).
REDRIVABLE: Mix = [
    *MIXED_KINDS,
    {"body": {"task": "fickle", "args": {"ms": 50}, "max_attempts": 2}, "weight": 10},
]
#: One poison of each kind in every 60 tasks, spread out (a deterministic mix).
POISON_PATTERN = [0] * 60
for _i, _slot in enumerate(range(5, 60, 12)):
    POISON_PATTERN[_slot] = _i + 1


@dataclasses.dataclass(frozen=True)
class Load:
    count: int
    seconds: float
    mix: Mix
    threads: int = 4
    pause: float = 0.1
    pattern: list[int] | None = None


Faults = Callable[[Cluster], None]


class Canceller:
    """Cancels one of the latest acknowledged tasks every ``every`` seconds while the load runs
    (straight to the database, past the proxies: the faults hit the workers, not the cancels);
    with ``queued``, every other cancel goes to an acknowledged task that is queued right then
    (waiting out a retry's backoff, or not claimed yet), as the latest ones are mostly running.
    ``requested`` holds every task a cancel was sent for, answered or not."""

    def __init__(
        self, cluster: Cluster, out: Path, every: float = 0.25, *, queued: bool = False
    ) -> None:
        self.requested: set[str] = set()
        self.hits: dict[str, int] = {"queued": 0, "running": 0}
        self._cluster = cluster
        self._out = out
        self._every = every
        self._queued = queued
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        rng = random.Random(7)
        while not self._stop.wait(self._every):
            if not self._out.exists():
                continue
            acknowledged = list(read_acknowledged(self._out).ids)
            ids = acknowledged[-10:]
            if self._queued and len(self.requested) % 2:
                ids = self._queued_among(acknowledged) or ids
            if not ids:
                continue
            task_id = rng.choice(ids)
            self.requested.add(task_id)
            try:
                with self._cluster.engine.begin() as conn:
                    task = queue_core.cancel(conn, task_id)
            except queue_core.TaskrowError:
                continue  # finished already, or the database is down: no promise either way
            # Cancelled at once when it was queued; else its worker is asked (running).
            self.hits["queued" if task.state is queue_core.TaskState.CANCELLED else "running"] += 1

    def _queued_among(self, ids: list[str]) -> list[str]:
        try:
            with self._cluster.engine.connect() as conn:
                rows = conn.execute(
                    sa.text(
                        "SELECT id::text FROM taskrow.tasks"
                        " WHERE state = 'queued' AND id = ANY(CAST(:ids AS uuid[]))"
                    ),
                    {"ids": ids},
                )
                return [str(r[0]) for r in rows]
        except sa.exc.SQLAlchemyError:
            return []

    def stop(self) -> frozenset[str]:
        self._stop.set()
        self._thread.join(10)
        return frozenset(self.requested)


class Redriver:
    """While the load runs, re-drives (``queue_core.retry``, straight to the database)
    every other ``fickle`` task it finds dead, one every ``every`` seconds; the others stay
    dead. The task's id is written to the re-drive file first, so its handler succeeds.
    ``redriven()``: the tasks the database re-drove (one whose answer was lost counts when it
    is no longer dead: nothing else revives a dead task)."""

    def __init__(self, cluster: Cluster, every: float = 0.3) -> None:
        self._cluster = cluster
        self._every = every
        self._decided: set[str] = set()
        self._done: set[str] = set()
        self._unsure: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                dead = self._dead()
            except sa.exc.SQLAlchemyError:
                continue
            fresh = [t for t in dead if t not in self._decided]
            if not fresh:
                continue
            task_id = fresh[0]
            self._decided.add(task_id)
            if len(self._decided) % 2 == 0:
                continue  # every other one is left dead: judged dead
            with self._cluster.redriven_file.open("a") as redriven:
                redriven.write(f"{task_id}\n")
            try:
                with self._cluster.engine.begin() as conn:
                    queue_core.retry(conn, task_id)
                self._done.add(task_id)
            except queue_core.DatabaseUnavailable:
                self._unsure.add(task_id)

    def _dead(self) -> list[str]:
        with self._cluster.engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT id::text FROM taskrow.tasks WHERE task = 'fickle' AND state = 'dead'"
                    " ORDER BY finished_at"
                )
            )
            return [str(r[0]) for r in rows]

    def stop(self) -> frozenset[str]:
        self._stop.set()
        self._thread.join(10)
        revived = set(self._unsure) - set(self._dead())
        return frozenset(self._done | revived)


def run(
    cluster: Cluster,
    name: str,
    load: Load,
    faults: Faults,
    *,
    settle: float = 25.0,
    cancels: bool = False,
    redrives: bool = False,
    periodic: str | None = None,
) -> Report:
    """Load + faults (and cancels of running and queued tasks with ``cancels``, re-drives of
    dead ``fickle`` tasks with ``redrives``), then settle and check; prints and keeps the
    summary table. ``periodic``: the task of a schedule the workers run every second; its
    slots up to the end of the load are judged (and waited for while settling)."""
    start = time.monotonic()
    out = cluster.start_load(
        count=load.count,
        seconds=load.seconds,
        mix=load.mix,
        threads=load.threads,
        pause=load.pause,
        pattern=load.pattern,
    )
    # With re-drives, cancels go to queued tasks too (a re-driven task is queued a moment).
    canceller = Canceller(cluster, out, queued=redrives) if cancels else None
    redriver = Redriver(cluster) if redrives else None
    faults(cluster)
    deadline = time.monotonic() + load.seconds + 30
    while cluster.loading() and time.monotonic() < deadline:
        cluster.supervise()
        time.sleep(0.2)
    cluster.wait_load(timeout=5)
    cancelled = canceller.stop() if canceller is not None else frozenset()
    redriven = redriver.stop() if redriver is not None else frozenset()
    cutoff = _database_now(cluster) if periodic else None
    acknowledged = read_acknowledged(out)
    ids = list(acknowledged.ids)
    settle_end = time.monotonic() + settle

    def settled() -> bool:
        if unfinished(cluster.engine, ids):
            return False
        return (
            periodic is None
            or cutoff is None
            or not slots_unfinished(cluster.engine, periodic, cutoff)
        )

    while not settled() and time.monotonic() < settle_end:
        cluster.supervise()
        time.sleep(0.25)
    slots = None
    if periodic is not None and cutoff is not None:
        slots = check_slots(cluster.engine, periodic, cluster.events, cutoff=cutoff)
    report = check(
        name,
        cluster.engine,
        acknowledged,
        cluster.events,
        lease=cluster.lease,
        seconds=time.monotonic() - start,
        starts=cluster.starts(),
        cancel_requested=cancelled,
        redriven=redriven,
        slots=slots,
        cancel_hits=canceller.hits if canceller is not None else None,
    )
    table = report.table()
    REPORTS.append(table)
    print(f"\n{table}\n")
    return report


def _database_now(cluster: Cluster) -> datetime:
    """The database's clock, less 3 s: every slot up to then has had its ticks (a worker
    ticks at least once a second)."""
    with cluster.engine.connect() as conn:
        now: datetime = conn.execute(sa.text("SELECT now() - interval '3 seconds'")).scalar_one()
        return now


def _while_loading(cluster: Cluster, gap: tuple[float, float], act: Callable[[], object]) -> None:
    """Wait a random gap, act, repeat while the load runs."""
    while True:
        _sleep_supervised(cluster, random.uniform(*gap))
        if not cluster.loading():
            return
        act()


def _sleep_supervised(cluster: Cluster, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        cluster.supervise()
        time.sleep(min(0.1, max(0.0, end - time.monotonic())))


# -- the faults -----------------------------------------------------------------------------


def kill_workers(cluster: Cluster) -> None:
    """SIGKILL a random busy worker, again and again (spaced so recoveries do not overlap)."""
    spacing = cluster.lease + 1.5
    _while_loading(cluster, (spacing, spacing + 1.0), cluster.kill_worker)


def kill_api_workers(cluster: Cluster) -> None:
    """SIGKILL a random gunicorn worker every second or so, mid-request under load."""
    _while_loading(cluster, (0.6, 1.4), cluster.kill_api_worker)


def crash_postgres(cluster: Cluster) -> None:
    """Two immediate stops of Postgres under load, down for 2 s then 1 s."""
    for down in (2.0, 1.0):
        _sleep_supervised(cluster, 3.0)
        cluster.crash_postgres(down)


def network_faults(cluster: Cluster) -> None:
    """Through the proxies: 200 ms latency, two resets of every connection, then one worker's
    link blackholed for longer than the lease (its tasks move to the others)."""
    _sleep_supervised(cluster, 2.0)
    cluster.latency(0.2, 2.0)
    _sleep_supervised(cluster, 1.0)
    cluster.reset_connections()
    _sleep_supervised(cluster, 1.5)
    cluster.reset_connections()
    _sleep_supervised(cluster, 1.5)
    cluster.blackhole([cluster.workers[0].link], cluster.lease * 2 + 1.0)


def kill_workers_and_pgbouncer(cluster: Cluster) -> None:
    """SIGKILL a busy worker, then the PgBouncer every client goes through (down 1 s, started
    again on its port), in turn, each followed by a pause past the lease."""
    spacing = cluster.lease + 1.5
    actions: list[Callable[[], object]] = [
        cluster.kill_worker,
        lambda: cluster.kill_pgbouncer(1.0),
    ]
    turn = 0
    while True:
        _sleep_supervised(cluster, random.uniform(spacing, spacing + 1.0))
        if not cluster.loading():
            return
        actions[turn % len(actions)]()
        turn += 1


def zombies(cluster: Cluster) -> None:
    """SIGSTOP a busy worker past its lease, SIGCONT it; twice."""
    for _ in range(2):
        _sleep_supervised(cluster, 2.0)
        cluster.pause_worker(cluster.busy_worker(), cluster.lease + 1.5)


def no_faults(cluster: Cluster) -> None:
    """Poison is the fault: the tasks themselves kill, crash, hang and hog."""


def mixed(cluster: Cluster, *, until: float | None = None) -> None:
    """Faults of every kind, one after another in a random order (each kind once before any
    comes again, so that even a short load sees several kinds), each followed by a pause
    longer than the lease so that recoveries can be told apart; until the load ends (or
    ``until``)."""
    actions: list[Callable[[], object]] = [
        cluster.kill_worker,
        cluster.kill_api_worker,
        lambda: cluster.crash_postgres(random.uniform(0.5, 2.0)),
        cluster.reset_connections,
        lambda: cluster.latency(random.choice([0.05, 0.2]), 1.5),
        lambda: cluster.pause_worker(cluster.busy_worker(), cluster.lease + 1.0),
        lambda: cluster.blackhole([random.choice(cluster.workers).link], cluster.lease * 2),
    ]
    order: list[Callable[[], object]] = []
    while cluster.loading() and (until is None or time.monotonic() < until):
        if not order:
            order = random.sample(actions, len(actions))
        order.pop()()
        _sleep_supervised(cluster, cluster.lease + random.uniform(1.5, 2.5))
