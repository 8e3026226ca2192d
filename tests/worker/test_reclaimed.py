"""A worker that stalled past its lease and then claimed its own task again runs two attempts
of it: the older one must learn at the next heartbeat that its lease is lost."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from queue_core import TaskState

from ..support import wait_for
from .conftest import TIMEOUT, StartWorker, enqueue, fetch
from .test_signals import running_on


def test_the_older_attempt_of_a_task_its_worker_claimed_again_learns_it_lost(
    engine: Engine, start_worker: StartWorker, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    task = enqueue(engine, "block", {"release": str(release)})
    proc = start_worker("--lease", "1", "--concurrency", "2")
    wait_for(lambda: running_on(engine, task, proc.pid), what="the task running", timeout=TIMEOUT)
    # Once resumed, the worker's heartbeat and its next claim race: a heartbeat first extends
    # the expired lease (nobody took it: the attempt goes on), a claim first takes the task
    # again. Stall it again until the claim wins (each try one chance in two or better).
    for _ in range(TRIES):
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            wait_for(lambda: _expired(engine, task.id), what="the lease expired", timeout=TIMEOUT)
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        outcome = wait_for(
            lambda: _reclaimed_or_extended(engine, task.id),
            what="a claim or a heartbeat",
            timeout=TIMEOUT,
        )
        if outcome == "reclaimed":
            break
    else:
        raise AssertionError(f"the heartbeat won the race {TRIES} times out of {TRIES}")
    again = fetch(engine, task)
    assert again.attempts == 2 and f":{proc.pid}:" in (again.worker_id or "")
    proc.wait_log("result=handler_running")  # the older attempt was told, while still running
    release.touch()
    done = wait_for(
        lambda: (t := fetch(engine, task)).state is TaskState.SUCCEEDED and t,
        what="the task to succeed",
        timeout=TIMEOUT,
    )
    assert (done.attempts, done.result["attempt"]) == (2, 2)


TRIES = 10


def _reclaimed_or_extended(engine: Engine, task_id: object) -> str | None:
    """``reclaimed`` once the task is on its second attempt, ``extended`` once its first
    attempt's lease runs again (a heartbeat came first), else None."""
    with engine.connect() as conn:
        attempts, live = conn.execute(
            sa.text("SELECT attempts, run_at > now() FROM taskrow.tasks WHERE id = :id"),
            {"id": task_id},
        ).one()
    if attempts >= 2:
        return "reclaimed"
    return "extended" if live else None


def _expired(engine: Engine, task_id: object) -> bool:
    with engine.connect() as conn:
        return bool(
            conn.execute(
                sa.text("SELECT run_at < now() FROM taskrow.tasks WHERE id = :id"), {"id": task_id}
            ).scalar_one()
        )
