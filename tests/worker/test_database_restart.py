"""Postgres restarted (crash, then recovery) under a running worker process."""

from __future__ import annotations

import functools
from pathlib import Path

from sqlalchemy.engine import Engine

import queue_core
from queue_core import Task, TaskState, migrations
from taskrow.embedded import EmbeddedPostgres

from ..support import wait_for
from .conftest import TIMEOUT, StartWorker, enqueue, fetch


def test_every_task_succeeds_across_a_postgres_restart(
    tmp_path: Path, start_worker: StartWorker
) -> None:
    server = EmbeddedPostgres(tmp_path / "pg")
    url = server.start()
    engine = queue_core.create_engine(url)
    try:
        migrations.upgrade(engine)
        release = tmp_path / "release"
        blocked = [enqueue(engine, "block", {"release": str(release)}) for _ in range(3)]
        quick = [enqueue(engine, "echo", {"i": i}) for i in range(10)]
        proc = start_worker("--lease", "2", "--concurrency", "4", url=url)
        wait_for(
            lambda: all(fetch(engine, t).progress_message == "started" for t in blocked),
            timeout=TIMEOUT,
            what="the blocked tasks to run",
        )
        engine.dispose()
        server.stop(mode="immediate")
        release.touch()  # the handlers finish while the database is down
        proc.wait_log("database.unavailable", timeout=TIMEOUT)
        server.start()
        for task in blocked + quick:
            done = wait_for(
                functools.partial(finished, engine, task),
                timeout=TIMEOUT,
                what="every task to finish",
            )
            assert done.state is TaskState.SUCCEEDED
        proc.wait_log("database.recovered")
        assert proc.process.poll() is None  # it never exited
    finally:
        engine.dispose()  # its connections, closed rather than left to the garbage collector
        server.stop(mode="immediate")


def finished(engine: Engine, task: Task) -> Task | None:
    """The task once it has finished, else None."""
    current = fetch(engine, task)
    return current if current.state.finished else None
