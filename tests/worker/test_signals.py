"""Real worker processes and real signals: SIGKILL, SIGTERM, SIGSTOP/SIGCONT, a second signal."""

from __future__ import annotations

import functools
import os
import signal
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from queue_core import Task, TaskState

from ..support import wait_for
from .conftest import TIMEOUT, StartWorker, enqueue, fetch


def running_on(engine: Engine, task: Task, pid: int) -> bool:
    current = fetch(engine, task)
    return (
        current.state is TaskState.RUNNING
        and current.progress_message == "started"
        and f":{pid}:" in (current.worker_id or "")
    )


def test_sigkill_mid_task_another_worker_runs_it(
    engine: Engine, start_worker: StartWorker, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    task = enqueue(engine, "block", {"release": str(release)})
    others = [enqueue(engine, "noop") for _ in range(3)]
    first = start_worker("--lease", "1", "--concurrency", "1")
    wait_for(
        lambda: running_on(engine, task, first.pid),
        what="first worker runs the task",
        timeout=TIMEOUT,
    )
    first.process.send_signal(signal.SIGKILL)
    first.wait_exit()
    release.touch()
    second = start_worker("--lease", "1", "--concurrency", "2")
    done = wait_for(
        lambda: (t := fetch(engine, task)).state is TaskState.SUCCEEDED and t,
        timeout=TIMEOUT,
        what="the task to succeed on the second worker",
    )
    assert done.result == {"pid": second.pid, "attempt": 2, "lease_lost": False}
    wait_for(
        lambda: all(fetch(engine, t).state is TaskState.SUCCEEDED for t in others),
        timeout=TIMEOUT,
    )


@pytest.mark.slow  # waits out a grace period, about 4 s
def test_sigterm_finishes_in_flight_and_releases_the_rest(
    engine: Engine, start_worker: StartWorker, tmp_path: Path
) -> None:
    quick, stuck = tmp_path / "quick", tmp_path / "never"
    finishing = enqueue(engine, "block", {"release": str(quick)})
    unfinished = enqueue(engine, "block", {"release": str(stuck)})
    proc = start_worker("--lease", "2", "--concurrency", "2", "--grace", "3")
    for task in (finishing, unfinished):
        wait_for(
            functools.partial(running_on, engine, task, proc.pid),
            what="both tasks running",
            timeout=TIMEOUT,
        )
    proc.process.send_signal(signal.SIGTERM)
    proc.wait_log("worker.stopping")
    later = enqueue(engine, "noop")
    quick.touch()
    assert proc.wait_exit() == 3  # some task was released after the grace period
    assert fetch(engine, finishing).state is TaskState.SUCCEEDED
    released = fetch(engine, unfinished)
    # its handler started: the attempt stays charged
    assert (released.state, released.attempts, released.lease_token) == (TaskState.QUEUED, 1, None)
    assert fetch(engine, later).state is TaskState.QUEUED  # a stopping worker claims nothing


def test_sigterm_with_nothing_running_exits_zero(start_worker: StartWorker) -> None:
    proc = start_worker()
    proc.wait_log("worker.started")
    proc.process.send_signal(signal.SIGTERM)
    assert proc.wait_exit() == 0


def test_second_signal_exits_at_once(
    engine: Engine, start_worker: StartWorker, tmp_path: Path
) -> None:
    task = enqueue(engine, "block", {"release": str(tmp_path / "never")})
    proc = start_worker("--grace", "60")
    wait_for(lambda: running_on(engine, task, proc.pid), what="task running", timeout=TIMEOUT)
    proc.process.send_signal(signal.SIGTERM)
    proc.wait_log("worker.stopping")
    proc.process.send_signal(signal.SIGINT)
    assert proc.wait_exit() == 128 + signal.SIGINT
    assert fetch(engine, task).state is TaskState.RUNNING  # its lease will simply expire


def test_sigstop_past_the_lease_then_sigcont_is_fenced(
    engine: Engine, start_worker: StartWorker, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    task = enqueue(engine, "block", {"release": str(release)})
    zombie = start_worker("--lease", "1", "--concurrency", "1")
    wait_for(
        lambda: running_on(engine, task, zombie.pid),
        what="first worker runs the task",
        timeout=TIMEOUT,
    )
    os.kill(zombie.pid, signal.SIGSTOP)
    try:
        release.touch()
        second = start_worker("--lease", "1", "--concurrency", "1")
        done = wait_for(
            lambda: (t := fetch(engine, task)).state is TaskState.SUCCEEDED and t,
            timeout=TIMEOUT,
            what="the second worker to finish the task",
        )
        assert done.result["pid"] == second.pid
    finally:
        os.kill(zombie.pid, signal.SIGCONT)
    zombie.wait_log(f"task_id={task.id}", timeout=TIMEOUT)
    wait_for(
        lambda: "task.lease_lost" in zombie.text() or "task.discarded" in zombie.text(),
        what="the stalled worker to find its lease lost",
        timeout=TIMEOUT,
    )
    final = fetch(engine, task)
    assert final.result == done.result
    assert final.attempts == 2
