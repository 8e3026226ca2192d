"""A worker process at work: progress, cancel, the process pool's kills, periodic tasks."""

from __future__ import annotations

import collections
import itertools
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

import queue_core
from queue_core import Task, TaskState

from ..support import wait_for
from .conftest import TIMEOUT, StartWorker, enqueue, fetch


def ended(engine: Engine, task: Task, state: TaskState, timeout: float = TIMEOUT) -> Task:
    return wait_for(
        lambda: (t := fetch(engine, task)).state is state and t,
        timeout=timeout,
        what=f"task {task.task} to end {state}",
    )


def test_progress_is_visible_while_the_task_runs(
    engine: Engine, start_worker: StartWorker, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    task = enqueue(engine, "block", {"release": str(release)})
    start_worker()
    seen = wait_for(
        lambda: (t := fetch(engine, task)).progress_current == 1 and t, what="progress stored"
    )
    assert (seen.state, seen.progress_total, seen.progress_message) == (
        TaskState.RUNNING,
        2,
        "started",
    )
    release.touch()
    ended(engine, task, TaskState.SUCCEEDED)


def test_cancel_a_running_task(engine: Engine, start_worker: StartWorker, tmp_path: Path) -> None:
    task = enqueue(engine, "block", {"release": str(tmp_path / "never")})
    proc = start_worker("--lease", "1")
    wait_for(
        lambda: fetch(engine, task).progress_message == "started",
        what="task running",
        timeout=TIMEOUT,
    )
    with engine.begin() as conn:
        queue_core.cancel(conn, task.id)
    done = ended(engine, task, TaskState.CANCELLED)
    assert done.error_type == "Cancelled"  # raised by the handler once it saw the flag
    proc.wait_log("task.cancelled")


def test_process_pool_kills_hangs_and_survives_dying_children(
    engine: Engine, start_worker: StartWorker
) -> None:
    hung = enqueue(engine, "hang", timeout_seconds=1, max_attempts=1)
    dying = enqueue(engine, "die", max_attempts=2)
    start_worker("--pool", "process", "--concurrency", "2", "--lease", "2")
    noops = [enqueue(engine, "echo", {"i": i}) for i in range(10)]
    timed_out = ended(engine, hung, TaskState.DEAD, timeout=TIMEOUT)
    assert timed_out.error_type == "TaskTimeout"
    died = ended(engine, dying, TaskState.DEAD, timeout=TIMEOUT)
    assert (died.error_type, died.attempts) == ("WorkerProcessDied", 2)
    for task in noops:
        assert ended(engine, task, TaskState.SUCCEEDED, timeout=TIMEOUT).result["args"] == {
            "i": task.args["i"]
        }


def test_process_pool_recycles_children(engine: Engine, start_worker: StartWorker) -> None:
    tasks = [enqueue(engine, "block", {"release": "/"}) for _ in range(4)]
    start_worker("--pool", "process", "--concurrency", "1", "--max-tasks-per-child", "2")
    pids = [ended(engine, t, TaskState.SUCCEEDED, timeout=TIMEOUT).result["pid"] for t in tasks]
    assert pids[0] == pids[1] != pids[2] == pids[3]


@pytest.mark.slow  # three workers across periodic slots, about 4 s
def test_periodic_three_workers_one_task_per_slot(
    engine: Engine, start_worker: StartWorker
) -> None:
    workers = [start_worker("--queues", "ticks", app="tests.worker.periodic_app") for _ in range(3)]
    for proc in workers:
        proc.wait_log("worker.started", timeout=TIMEOUT)

    def slots() -> list[Task]:
        with engine.connect() as conn:
            return list(queue_core.list_tasks(conn, queue="ticks", limit=100))

    first = len(slots())
    wait_for(lambda: len(slots()) >= first + 4, timeout=TIMEOUT, what="four more periodic slots")
    for proc in workers:
        proc.wait_log("periodic.enqueued")  # each worker took part
    found = slots()
    keys = collections.Counter(t.idempotency_key for t in found)
    assert max(keys.values()) == 1
    slot_times = sorted(datetime.fromisoformat(str(key).split(":", 3)[3]) for key in keys)
    assert all(b - a == timedelta(seconds=1) for a, b in itertools.pairwise(slot_times))
    with engine.connect() as conn:
        per_slot = conn.execute(
            sa.text(
                "SELECT count(*) FROM taskrow.tasks WHERE task = 'tick' GROUP BY idempotency_key"
            )
        ).scalars()
        assert set(per_slot) == {1}


def test_notification_wakes_an_idle_worker(engine: Engine, start_worker: StartWorker) -> None:
    proc = start_worker("--poll-interval", "600")
    proc.wait_log("listener.connected")
    # A first task, recorded by a round that also claimed (and found nothing more): from then
    # on the worker is idle, and only a notification can bring it back before its next poll.
    ended(engine, enqueue(engine, "echo", {"via": "warm-up"}), TaskState.SUCCEEDED)
    task = enqueue(engine, "echo", {"via": "notify"})  # the next poll is ten minutes away
    ended(engine, task, TaskState.SUCCEEDED)


def test_poll_only_mode_finds_work(engine: Engine, start_worker: StartWorker) -> None:
    proc = start_worker("--poll-only", "--poll-interval", "0.2")
    task = enqueue(engine, "echo", {"via": "poll"})
    ended(engine, task, TaskState.SUCCEEDED)
    assert "listener" not in proc.text()


def test_thread_pool_timeout_stops_the_heartbeat(
    engine: Engine, start_worker: StartWorker, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    task = enqueue(engine, "block", {"release": str(release)}, timeout_seconds=1)
    proc = start_worker("--lease", "1", "--concurrency", "2")
    proc.wait_log("task.timed_out")
    # no longer heartbeated, the lease runs out and the task is claimed again: a new attempt
    wait_for(lambda: fetch(engine, task).attempts == 2, timeout=TIMEOUT, what="a second attempt")
    release.touch()  # now both attempts return; only the second one's result counts
    done = ended(engine, task, TaskState.SUCCEEDED)
    assert done.result["attempt"] == 2
    proc.wait_log(f"task.lease_lost task_id={task.id} task=block attempt=1")  # its late result
