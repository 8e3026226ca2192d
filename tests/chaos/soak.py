"""The soak: mixed faults under load for SOAK_SECONDS (default 1800), then the same checker.

Run by ``make soak`` (not collected by pytest: its name does not start with ``test_``)::

    SOAK_SECONDS=120 .venv/bin/python -m tests.chaos.soak

It starts its own embedded Postgres in a temporary folder, the API (2 gunicorn workers),
SOAK_WORKERS taskrow workers (default 3) and the load generator (about SOAK_RATE tasks a second,
default 12), hits them with a random fault every few seconds (SIGKILL of a worker or of a
gunicorn worker, Postgres immediate stop, connection resets, latency, a blackhole longer than
the lease, SIGSTOP past the lease), lets the queue settle, prints the summary table, and exits
non-zero if anything acknowledged was lost, stuck or overwritten by a zombie. Everything it
started is killed on the way out.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from taskrow.embedded import EmbeddedPostgres

from . import scenarios
from .cluster import Cluster
from .scenarios import SLOW, Load


def _number(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    try:
        return float(raw) if raw else default
    except ValueError:
        sys.exit(f"{name}: {raw!r} is not a number")


def main() -> int:
    seconds = _number("SOAK_SECONDS", 1800)
    workers = int(_number("SOAK_WORKERS", 3))
    rate = _number("SOAK_RATE", 12)
    folder = Path(tempfile.mkdtemp(prefix="taskrow-soak-"))
    server = EmbeddedPostgres(folder / "pg")
    cluster: Cluster | None = None
    try:
        server.start()
        cluster = Cluster(server, folder, lease=2.0)
        cluster.create()
        cluster.start_api()
        cluster.add_workers(workers)
        threads = 4
        load = Load(int(seconds * rate * 1.5) + 10, seconds, SLOW, threads, threads / rate)
        name = f"soak: mixed faults for {seconds:g} s"
        until = time.monotonic() + seconds
        report = scenarios.run(
            cluster, name, load, lambda c: scenarios.mixed(c, until=until), settle=60.0
        )
        problems = report.problems(check_recovery=False)
        for recovery in report.recoveries:
            print(recovery.text())
        print("\n".join(problems) if problems else "soak: no broken promise")
        return 1 if problems else 0
    finally:
        if cluster is not None:
            cluster.close()
        server.stop(mode="immediate")
        if os.environ.get("SOAK_KEEP") != "1":
            shutil.rmtree(folder, ignore_errors=True)
        else:
            print(f"soak: logs kept in {folder}")


if __name__ == "__main__":
    sys.exit(main())
