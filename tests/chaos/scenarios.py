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
from pathlib import Path
from typing import Any

import queue_core

from .checker import check, read_acknowledged, unfinished
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
    (straight to the database, past the proxies: the faults hit the workers, not the cancels).
    ``requested`` holds every task a cancel was sent for, answered or not."""

    def __init__(self, cluster: Cluster, out: Path, every: float = 0.25) -> None:
        self.requested: set[str] = set()
        self._cluster = cluster
        self._out = out
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        rng = random.Random(7)
        while not self._stop.wait(self._every):
            if not self._out.exists():
                continue
            ids = list(read_acknowledged(self._out).ids)[-10:]
            if not ids:
                continue
            task_id = rng.choice(ids)
            self.requested.add(task_id)
            try:
                with self._cluster.engine.begin() as conn:
                    queue_core.cancel(conn, task_id)
            except queue_core.TaskrowError:
                pass  # finished already, or the database is down: no promise either way

    def stop(self) -> frozenset[str]:
        self._stop.set()
        self._thread.join(10)
        return frozenset(self.requested)


def run(
    cluster: Cluster,
    name: str,
    load: Load,
    faults: Faults,
    *,
    settle: float = 25.0,
    cancels: bool = False,
) -> Report:
    """Load + faults (and cancels of running and queued tasks with ``cancels``), then settle
    and check; prints and keeps the summary table."""
    start = time.monotonic()
    out = cluster.start_load(
        count=load.count,
        seconds=load.seconds,
        mix=load.mix,
        threads=load.threads,
        pause=load.pause,
        pattern=load.pattern,
    )
    canceller = Canceller(cluster, out) if cancels else None
    faults(cluster)
    deadline = time.monotonic() + load.seconds + 30
    while cluster.loading() and time.monotonic() < deadline:
        cluster.supervise()
        time.sleep(0.2)
    cluster.wait_load(timeout=5)
    cancelled = canceller.stop() if canceller is not None else frozenset()
    acknowledged = read_acknowledged(out)
    ids = list(acknowledged.ids)
    settle_end = time.monotonic() + settle
    while unfinished(cluster.engine, ids) and time.monotonic() < settle_end:
        cluster.supervise()
        time.sleep(0.25)
    report = check(
        name,
        cluster.engine,
        acknowledged,
        cluster.events,
        lease=cluster.lease,
        seconds=time.monotonic() - start,
        starts=cluster.starts(),
        cancel_requested=cancelled,
    )
    table = report.table()
    REPORTS.append(table)
    print(f"\n{table}\n")
    return report


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


def zombies(cluster: Cluster) -> None:
    """SIGSTOP a busy worker past its lease, SIGCONT it; twice."""
    for _ in range(2):
        _sleep_supervised(cluster, 2.0)
        cluster.pause_worker(cluster.busy_worker(), cluster.lease + 1.5)


def no_faults(cluster: Cluster) -> None:
    """Poison is the fault: the tasks themselves kill, crash, hang and hog."""


def mixed(cluster: Cluster, *, until: float | None = None) -> None:
    """A random fault of every kind, one after another, each followed by a pause longer than
    the lease so that recoveries can be told apart; until the load ends (or ``until``)."""
    actions: list[Callable[[], object]] = [
        cluster.kill_worker,
        cluster.kill_worker,
        cluster.kill_api_worker,
        lambda: cluster.crash_postgres(random.uniform(0.5, 2.0)),
        cluster.reset_connections,
        lambda: cluster.latency(random.choice([0.05, 0.2]), 1.5),
        lambda: cluster.pause_worker(cluster.busy_worker(), cluster.lease + 1.0),
        lambda: cluster.blackhole([random.choice(cluster.workers).link], cluster.lease * 2),
    ]
    while cluster.loading() and (until is None or time.monotonic() < until):
        random.choice(actions)()
        _sleep_supervised(cluster, cluster.lease + random.uniform(1.5, 2.5))
