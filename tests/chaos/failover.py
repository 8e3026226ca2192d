"""The failover scenario: the chaos cluster's API and workers on a Patroni cluster, whose
primary's postmaster is SIGKILLed under HTTP load; the same checker judges every 202.

The clients get libpq's multi-host URL (every node, ``target_session_attrs=read-write``) and no
proxy: the fault is the failover itself. Besides the checker's table, each failover reports
the seconds from the kill until Patroni had a new leader and until the load generator got its
next 202, and how many requests were refused in between.

The long form, several failovers in each replication mode and a comparison table, is
``make ha``::

    HA_FAILOVERS=3 .venv/bin/python -u -m tests.chaos.failover

It exits non-zero if synchronous replication lost, left stuck or let a zombie overwrite any
acknowledged task; asynchronous replication's losses are reported, not judged.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import psutil
import sqlalchemy as sa

import queue_core

from . import scenarios
from .checker import Event
from .cluster import Cluster
from .handlers import RECORD_URL_ENV
from .patroni import PatroniCluster
from .processes import WorkerSlot, spawn
from .report import Report
from .scenarios import GOOD, Load

FAILOVER = "failover (SIGKILL primary postmaster)"
#: One column of the comparison: its label, the checker's report, the failovers.
Row = tuple[str, Report, list["Switch"]]


class _Server:
    """What :class:`Cluster` asks of its server, for a Patroni cluster: the URL (every node,
    in SQLAlchemy's parameter form so that Cluster can name a database in it)."""

    def __init__(self, ha: PatroniCluster) -> None:
        self.ha = ha
        self.url = queue_core.engine_url(ha.url).render_as_string(hide_password=False)
        self.port = ha.port

    def running(self) -> bool:
        return True

    def start(self) -> None:
        """Patroni restarts Postgres itself."""


@dataclasses.dataclass(frozen=True)
class Switch:
    """One failover: seconds from the kill to a new leader and to the next 202, and the
    requests refused (503, connection errors) in that window."""

    old: str
    new: str
    to_leader: float
    to_first_202: float
    refused: int
    lagging: float = 0.0


class HaCluster(Cluster):
    """:class:`Cluster` on a :class:`PatroniCluster`, its clients on the multi-host URL."""

    def __init__(self, ha: PatroniCluster, folder: Path, *, lease: float = 2.0) -> None:
        super().__init__(_Server(ha), folder, lease=lease)  # type: ignore[arg-type]
        self.ha = ha
        self.engine.dispose()
        hosts = ",".join(f"127.0.0.1:{n.pg_port}" for n in ha.nodes)
        self.url = f"postgresql://postgres@{hosts}/{self.name}?target_session_attrs=read-write"
        self.engine = queue_core.create_engine(self.url, pool_size=2, max_overflow=2)
        self.switches: list[Switch] = []

    def _proxied(self, link: object) -> str:
        return self.url

    def _start_worker(self, slot: WorkerSlot) -> None:
        env = {
            "TASKROW_DATABASE_URL": f"{self.url}&application_name=taskrow-ha-worker-{slot.index}",
            RECORD_URL_ENV: self.url,
        }
        command = [sys.executable, "-m", "taskrow.cli", "worker", *slot.args]
        slot.started()
        slot.process = spawn(command, env, self.folder / f"worker-{slot.index}.log")

    def _wait_started(self, first: int) -> None:
        """Until the workers from ``first`` on have logged ``worker.started`` (no proxy counts
        connections here; this cluster has no PgBouncer and its workers' environment is its
        own)."""
        logs = [self.folder / f"worker-{s.index}.log" for s in self.workers[first:]]
        _wait_all(logs, "worker.started", timeout=60)

    def fail_over(self, *, lagging: float = 0.0) -> Switch:
        """SIGKILL the primary's postmaster; wait for a new leader and for the next 202.

        ``lagging`` > 0: first freeze the standby's WAL receiver for that long, then kill the
        primary and the frozen receiver (what it had received but not written is gone), so
        the standby is promoted that far behind. Synchronous commits waited for it meanwhile;
        asynchronous ones were acknowledged without it."""
        out = self.folder / f"load-{len(self.loads) - 1}.txt"
        began = time.time()
        receiver = self.ha.freeze_standby_receiver() if lagging else None
        if receiver is not None:
            scenarios._sleep_supervised(self, lagging)
        before = _lines(out)
        at = time.time()
        old = self.ha.kill_primary_postmaster()
        if receiver is not None:
            with contextlib.suppress(psutil.NoSuchProcess):
                receiver.kill()
        deadline = time.monotonic() + 60
        leader = self.ha.leader()
        while leader is None or leader is old:
            if time.monotonic() > deadline:
                raise AssertionError(f"no new leader within 60 s\n{self.ha.logs()}")
            time.sleep(0.05)
            leader = self.ha.leader()
        to_leader = time.time() - at
        while not any(line.startswith("A ") for line in _lines(out)[len(before) :]):
            if not self.loading() or time.monotonic() > deadline:
                raise AssertionError(f"no 202 after the failover\n{self.ha.logs()}")
            self.supervise()
            time.sleep(0.02)
        end = time.time()
        window = _lines(out)[len(before) :]
        refused = sum(1 for line in window if line.startswith("E "))
        switch = Switch(old.name, leader.name, to_leader, end - at, refused, lagging)
        self.switches.append(switch)
        kind = f"{FAILOVER}, standby {lagging:g} s behind" if lagging else FAILOVER
        self._record(Event(kind, began, end, None))
        return switch

    def close(self) -> None:
        # Dropping the database may fail on a broken cluster: it goes with the cluster anyway.
        with contextlib.suppress(queue_core.TaskrowError, sa.exc.SQLAlchemyError):
            super().close()


def failovers(count: int, *, gap: float = 4.0, lagging: float = 0.0) -> scenarios.Faults:
    """``count`` failovers, ``gap`` seconds apart, each once the old primary has rejoined."""

    def act(cluster: Cluster) -> None:
        assert isinstance(cluster, HaCluster)
        for n in range(count):
            scenarios._sleep_supervised(cluster, gap)
            if n:
                cluster.ha.wait_healthy(timeout=120)
            cluster.fail_over(lagging=lagging)

    return act


def run_failovers(
    cluster: HaCluster, *, count: int, seconds: float, rate: float = 25.0, lagging: float = 0.0
) -> Report:
    mode = "synchronous" if cluster.ha.synchronous else "asynchronous"
    threads = 4
    load = Load(int(seconds * rate * 1.5) + 10, seconds, GOOD, threads, threads / rate)
    behind = f", standby {lagging:g} s behind" if lagging else ""
    name = f"Patroni failover x{count}{behind}, {mode} replication"
    return scenarios.run(cluster, name, load, failovers(count, lagging=lagging), settle=40.0)


def switch_text(switch: Switch) -> str:
    behind = f" (standby {switch.lagging:g} s behind)" if switch.lagging else ""
    return (
        f"{switch.old} -> {switch.new}{behind}: new leader after {switch.to_leader:.1f} s, "
        f"next 202 after {switch.to_first_202:.1f} s, {switch.refused} refused meanwhile"
    )


def comparison(rows: list[Row]) -> str:
    """The table of docs/reliability.md: one column per replication mode."""
    header = ("", *(mode for mode, _, _ in rows))
    lines = [
        ("failovers", *(str(len(s)) for _, _, s in rows)),
        ("acknowledged (202)", *(str(r.acknowledged) for _, r, _ in rows)),
        ("lost", *(str(len(r.lost)) for _, r, _ in rows)),
        ("stuck", *(str(len(r.stuck)) for _, r, _ in rows)),
        ("zombie overwrites", *(str(len(r.zombie_overwrites)) for _, r, _ in rows)),
        ("refused during the switch", *(str(sum(x.refused for x in s)) for _, _, s in rows)),
        ("kill -> new leader (max)", *(_worst(s, "to_leader") for _, _, s in rows)),
        ("kill -> next 202 (max)", *(_worst(s, "to_first_202") for _, _, s in rows)),
    ]
    table = [header, *lines]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in table
    )


def _worst(switches: list[Switch], field: str) -> str:
    return f"{max(getattr(x, field) for x in switches):.1f} s" if switches else "-"


#: The standby's lag in the second fault of ``make ha`` (seconds of frozen WAL receiver).
LAG_SECONDS = 3.0


def one_run(synchronous: bool, *, count: int, seconds: float, lagging: float) -> Row:
    """A fresh Patroni cluster and chaos cluster, ``count`` failovers under load, torn down."""
    ha = PatroniCluster(nodes=2, synchronous=synchronous)
    folder = Path(tempfile.mkdtemp(prefix="taskrow-ha-run-"))
    cluster: HaCluster | None = None
    try:
        ha.start()
        cluster = HaCluster(ha, folder)
        cluster.create()
        cluster.start_api()
        cluster.add_workers(2)
        report = run_failovers(cluster, count=count, seconds=seconds, lagging=lagging)
        for switch in cluster.switches:
            print(switch_text(switch))
        mode = "sync" if synchronous else "async"
        label = f"{mode}, standby {lagging:g} s behind" if lagging else f"{mode}, plain kill"
        return label, report, cluster.switches
    finally:
        if cluster is not None:
            cluster.close()
        ha.close()
        if os.environ.get("TASKROW_HA_KEEP") != "1":
            shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    count = int(os.environ.get("HA_FAILOVERS", "3"))
    rows: list[Row] = []
    for synchronous in (True, False):
        for lagging in (0.0, LAG_SECONDS):
            # Each failover: a 4 s gap, the lag, the switch, the old primary's return.
            seconds = 12 + count * (16 + lagging)
            rows.append(one_run(synchronous, count=count, seconds=seconds, lagging=lagging))
    print(f"\nfailover comparison ({count} failovers per column, 2 nodes)\n{comparison(rows)}")
    problems = [
        f"{label}: {problem}"
        for label, report, _ in rows
        if label.startswith("sync,")
        for problem in report.problems(check_recovery=False)
    ]
    print("\n".join(problems) if problems else "synchronous replication: no broken promise")
    return 1 if problems else 0


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except OSError:
        return []


def _wait_all(logs: list[Path], fragment: str, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not all(fragment in _text(log) for log in logs):
        if time.monotonic() > deadline:
            tails = "\n".join(_text(log)[-1500:] for log in logs)
            raise AssertionError(f"timed out waiting for {fragment!r}; logs:\n{tails}")
        time.sleep(0.1)


def _text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


if __name__ == "__main__":
    sys.exit(main())
