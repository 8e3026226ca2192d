"""One-off measurement (not a test): drain N no-op tasks with ``taskrow worker --burst``.

    python -m tests.worker.drain POSTGRES_URL [N] [CONCURRENCY] [QUIET]

Enqueues N ``noop`` tasks (batches of 10,000) into the database named by POSTGRES_URL
(migrated first), then times one burst worker draining them with JSON logs (QUIET=1: at level
warning, without the per-task lines) and prints tasks per second.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import queue_core
from queue_core import NewTask, migrations


def main(url: str, n: int = 10_000, concurrency: int = 50, quiet: int = 0) -> None:
    engine = queue_core.create_engine(url)
    migrations.upgrade(engine)
    with engine.begin() as conn:
        for start in range(0, n, 10_000):
            size = min(10_000, n - start)
            queue_core.enqueue_many(conn, [NewTask(task="noop") for _ in range(size)])
    engine.dispose()  # hold no connection while measuring
    env = {**os.environ, "TASKROW_DATABASE_URL": url}
    command = [sys.executable, "-m", "taskrow.cli", "worker", "--app", "tests.worker.handlers"]
    command += ["--queues", "default", "--burst", "--concurrency", str(concurrency)]
    started = time.monotonic()
    subprocess.run(
        [*command, "--log-format", "json"], env=env, check=True, stderr=subprocess.DEVNULL
    )
    elapsed = time.monotonic() - started
    with engine.connect() as conn:
        counts = queue_core.stats(conn)[0].counts
    print(f"{n} tasks in {elapsed:.2f} s (including ~1 s start-up): {n / elapsed:,.0f} tasks/s")
    print({str(k): v for k, v in counts.items()})
    engine.dispose()


if __name__ == "__main__":
    main(sys.argv[1], *(int(a) for a in sys.argv[2:]))
