"""``async def`` handlers on a real Postgres: many at once on one loop, mixed with sync ones,
cancel, hard timeouts, a blocked loop, SIGKILL, a fenced zombie, graceful stop."""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

import queue_core
from queue_core import NewTask, Task, TaskState
from worker import Worker, WorkerConfig

from ..core.helpers import make_due
from ..support import wait_for
from .async_handlers import registry, steal
from .conftest import TIMEOUT, StartWorker, enqueue, fetch

APP = "tests.worker.async_handlers"


def ended(engine: Engine, task: Task, state: TaskState, timeout: float = TIMEOUT) -> Task:
    return wait_for(
        lambda: (t := fetch(engine, task)).state is state and t,
        timeout=timeout,
        what=f"task {task.task} to end {state}",
    )


def running_on(engine: Engine, task: Task, pid: int) -> bool:
    current = fetch(engine, task)
    return (
        current.state is TaskState.RUNNING
        and current.progress_message == "started"
        and f":{pid}:" in (current.worker_id or "")
    )


def run_once(engine: Engine, concurrency: int = 4) -> int:
    config = WorkerConfig(queues=("default",), concurrency=concurrency, lease=5, listen=False)
    return Worker(registry, engine, config).run_once()


@pytest.fixture
def side_effects(engine: Engine) -> Iterator[Engine]:
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE public.side_effects (marker text, pid int)"))
    yield engine


def markers(engine: Engine) -> list[tuple[str, int]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT marker, pid FROM side_effects ORDER BY pid"))
        return [(row.marker, row.pid) for row in rows]


# -- in process: outcomes ---------------------------------------------------------------------


def test_sync_and_async_handlers_of_one_registry_each_run_where_they_belong(
    engine: Engine,
) -> None:
    both = [enqueue(engine, "sync_echo", {"n": 1}), enqueue(engine, "asleep", {"seconds": 0})]
    assert run_once(engine) == 2
    sync_done, async_done = (fetch(engine, task) for task in both)
    assert sync_done.state is async_done.state is TaskState.SUCCEEDED
    assert sync_done.result["thread"].startswith("taskrow-slot-")
    assert async_done.result == {"attempt": 1, "thread": "taskrow-aio"}


def test_retry_fail_bad_arguments_and_bad_results_as_for_sync_handlers(engine: Engine) -> None:
    flaky = enqueue(engine, "aflaky", {"failures": 2})
    refused = enqueue(engine, "arefuse")
    unbound = enqueue(engine, "asleep", {"minutes": 1})
    not_json = enqueue(engine, "anot_json")
    transient = enqueue(engine, "apicky", {"kind": "io"}, max_attempts=10)
    bug = enqueue(engine, "apicky", {"kind": "bug"})
    for _ in range(3):
        run_once(engine, concurrency=8)
    assert (fetch(engine, flaky).state, fetch(engine, flaky).result) == (TaskState.SUCCEEDED, 3)
    assert (fetch(engine, refused).state, fetch(engine, refused).error_type) == (
        TaskState.DEAD,
        "Fail",
    )
    assert fetch(engine, unbound).error_type == "BadArguments"
    assert fetch(engine, not_json).error_type == "InvalidResult"
    # retry_on matched: retried after a backoff (full jitter: it may be due again within these
    # three rounds, so it has run once or more, never ended).
    retried = fetch(engine, transient)
    assert (retried.state, retried.error_type) == (TaskState.QUEUED, "OSError")
    assert 1 <= retried.attempts <= 3
    assert (fetch(engine, bug).state, fetch(engine, bug).error_type) == (
        TaskState.DEAD,
        "ValueError",
    )


def test_a_sync_handler_returning_a_coroutine_ends_dead_with_a_clear_error(
    engine: Engine, recwarn: pytest.WarningsRecorder
) -> None:
    task = enqueue(engine, "wrapped_async")
    run_once(engine)
    done = fetch(engine, task)
    assert (done.state, done.error_type) == (TaskState.DEAD, "InvalidResult")
    assert "returned a coroutine; make it `async def`" in str(done.error_message)
    assert not [w for w in recwarn if "never awaited" in str(w.message)]


def test_async_transaction_commits_with_the_completion(side_effects: Engine) -> None:
    marker = uuid.uuid4().hex
    task = enqueue(side_effects, "awrite", {"marker": marker})
    run_once(side_effects)
    done = fetch(side_effects, task)
    assert done.state is TaskState.SUCCEEDED, done
    assert markers(side_effects) == [(marker, os.getpid())]


def test_async_transaction_rolls_back_when_the_lease_was_stolen(
    side_effects: Engine, db_url: str
) -> None:
    marker = uuid.uuid4().hex
    task = enqueue(side_effects, "awrite", {"marker": marker, "steal_url": db_url})
    run_once(side_effects)
    done = fetch(side_effects, task)
    assert (done.state, done.worker_id, done.result) == (TaskState.RUNNING, "thief", None), done
    assert markers(side_effects) == []


# -- real worker processes --------------------------------------------------------------------


def test_two_hundred_one_second_handlers_run_at_once(
    engine: Engine, start_worker: StartWorker
) -> None:
    with engine.begin() as conn:
        tasks = queue_core.enqueue_many(
            conn, [NewTask("asleep", {"seconds": 1}) for _ in range(200)]
        )
    start_worker("--concurrency", "200", app=APP)

    def succeeded() -> bool:
        with engine.connect() as conn:
            found = queue_core.list_tasks(conn, state=TaskState.SUCCEEDED, limit=1000)
        return len(found) == len(tasks)

    # One at a time this takes 200 s; at once, a few seconds.
    wait_for(succeeded, timeout=TIMEOUT, what="200 one-second tasks to succeed")


def test_cancel_raises_cancelled_error_inside_the_handler(
    engine: Engine, start_worker: StartWorker, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    task = enqueue(engine, "ablock", {"release": str(tmp_path / "never"), "marker": str(marker)})
    proc = start_worker("--lease", "1", app=APP)
    wait_for(lambda: running_on(engine, task, proc.pid), what="task running")
    with engine.begin() as conn:
        queue_core.cancel(conn, task.id)
    done = ended(engine, task, TaskState.CANCELLED)
    assert done.error_type == "Cancelled"
    assert marker.read_text() == "cancelled attempt 1"


def test_timeout_cancels_the_coroutine_at_the_deadline(
    engine: Engine, start_worker: StartWorker, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    task = enqueue(engine, "ahang", {"marker": str(marker)}, timeout_seconds=1, max_attempts=1)
    # A 60 s lease: only a cancellation at the deadline ends the task within the test's wait.
    proc = start_worker("--lease", "60", app=APP)
    done = ended(engine, task, TaskState.DEAD)
    assert done.error_type == "TaskTimeout"
    assert marker.read_text() == "timed_out=True lease_lost=False"
    proc.wait_log(f"task.timed_out task_id={task.id}")


@pytest.mark.slow  # blocks a loop for seconds, about 6 s
def test_a_blocked_loop_is_logged_and_freezes_neither_rounds_nor_heartbeats(
    engine: Engine, start_worker: StartWorker
) -> None:
    blocking = enqueue(engine, "ablocking", {"seconds": 6})
    # A 2 s lease: were heartbeats frozen with the loop, the task would be claimed again.
    proc = start_worker("--lease", "2", "--concurrency", "4", app=APP)
    proc.wait_log(f"worker.loop_blocked task_id={blocking.id}")
    sync_task = enqueue(engine, "sync_echo", {"while": "blocked"})
    ended(engine, sync_task, TaskState.SUCCEEDED)
    assert fetch(engine, blocking).state is TaskState.RUNNING  # the loop is still blocked
    done = ended(engine, blocking, TaskState.SUCCEEDED)
    assert (done.attempts, done.result) == (1, {"attempt": 1})
    proc.wait_log(f"worker.loop_unblocked task_id={blocking.id}")


def test_sigkill_mid_task_the_task_runs_again_after_its_lease(
    engine: Engine, start_worker: StartWorker, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    task = enqueue(engine, "ablock", {"release": str(release)})
    first = start_worker("--lease", "1", app=APP)
    wait_for(lambda: running_on(engine, task, first.pid), what="first worker runs the task")
    first.process.send_signal(signal.SIGKILL)
    first.wait_exit()
    release.touch()
    second = start_worker("--lease", "1", app=APP)
    done = ended(engine, task, TaskState.SUCCEEDED)
    assert done.result == {"pid": second.pid, "attempt": 2}


def test_a_zombie_async_completion_is_fenced(
    side_effects: Engine, start_worker: StartWorker, tmp_path: Path
) -> None:
    engine = side_effects
    release = tmp_path / "release"
    task = enqueue(engine, "awrite", {"marker": "m", "release": str(release)})
    zombie = start_worker("--lease", "1", app=APP)
    wait_for(lambda: running_on(engine, task, zombie.pid), what="first worker runs the task")
    os.kill(zombie.pid, signal.SIGSTOP)
    try:
        release.touch()
        second = start_worker("--lease", "1", app=APP)
        done = ended(engine, task, TaskState.SUCCEEDED)
        assert (done.result["pid"], done.attempts) == (second.pid, 2)
    finally:
        os.kill(zombie.pid, signal.SIGCONT)
    wait_for(
        lambda: "task.lease_lost" in zombie.text() or "task.discarded" in zombie.text(),
        what="the stalled worker to find its lease lost",
    )
    final = fetch(engine, task)
    assert (final.result, final.attempts) == (done.result, 2)
    assert markers(engine) == [("m", second.pid)]  # the zombie's insert rolled back


def test_graceful_stop_cancels_and_releases_what_outlives_the_grace(
    engine: Engine, start_worker: StartWorker, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    quick = tmp_path / "quick"
    finishing = enqueue(engine, "ablock", {"release": str(quick)})
    unfinished = enqueue(engine, "ahang", {"marker": str(marker)})
    proc = start_worker("--lease", "2", "--grace", "2", app=APP)
    wait_for(lambda: running_on(engine, finishing, proc.pid), what="the tasks running")
    wait_for(lambda: fetch(engine, unfinished).state is TaskState.RUNNING, what="running")
    proc.process.send_signal(signal.SIGTERM)
    proc.wait_log("worker.stopping")
    quick.touch()
    assert proc.wait_exit() == 3
    assert fetch(engine, finishing).state is TaskState.SUCCEEDED
    released = fetch(engine, unfinished)
    # Its handler had started: released, its attempt stays charged (so a hang cannot loop).
    assert (released.state, released.attempts, released.lease_token) == (TaskState.QUEUED, 1, None)
    assert marker.read_text() == "timed_out=False lease_lost=True"


def test_a_lost_lease_cancels_the_coroutine(
    engine: Engine, start_worker: StartWorker, tmp_path: Path, db_url: str
) -> None:
    marker = tmp_path / "marker"
    task = enqueue(engine, "ahang", {"marker": str(marker)})
    proc = start_worker("--lease", "1", app=APP)
    wait_for(lambda: fetch(engine, task).state is TaskState.RUNNING, what="task running")
    steal(db_url, task.id)  # another worker takes the task over
    wait_for(marker.exists, what="the handler's coroutine to be cancelled")
    assert marker.read_text() == "timed_out=False lease_lost=True"
    proc.wait_log(f"task.lease_lost task_id={task.id}")
    assert fetch(engine, task).worker_id == "thief"


def test_the_process_pool_runs_sync_handlers_and_the_loop_runs_async_ones(
    engine: Engine, start_worker: StartWorker
) -> None:
    sync_task = enqueue(engine, "sync_echo", {"n": 1})
    async_task = enqueue(engine, "asleep", {"seconds": 0})
    start_worker("--pool", "process", "--concurrency", "2", app=APP)
    assert ended(engine, sync_task, TaskState.SUCCEEDED).result["thread"] == "MainThread"
    assert ended(engine, async_task, TaskState.SUCCEEDED).result["thread"] == "taskrow-aio"


def test_a_system_exit_from_an_async_handler_fails_its_attempt_and_spares_the_loop(
    engine: Engine,
) -> None:
    poison = enqueue(engine, "aexit", max_attempts=2)
    for _ in range(2):
        run_once(engine, concurrency=4)
        make_due(engine)
    dead = fetch(engine, poison)
    assert (dead.state, dead.error_type, dead.attempts) == (TaskState.DEAD, "SystemExit", 2)
    after = enqueue(engine, "asleep", {"seconds": 0})
    run_once(engine, concurrency=4)
    assert fetch(engine, after).state is TaskState.SUCCEEDED
