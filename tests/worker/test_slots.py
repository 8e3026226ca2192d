"""A slot that something escapes never strands its task: the attempt fails (charged) and the
slot carries on, in both pools. Each test runs a worker with one slot, so a lost slot would
also leave the task enqueued after it waiting forever."""

from __future__ import annotations

import signal

import psutil
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from queue_core import TaskState

from ..support import wait_for
from .conftest import StartWorker, enqueue
from .test_running import ended

POOLS = ["thread", "process"]


@pytest.mark.parametrize("pool", POOLS)
@pytest.mark.parametrize("kind", ["exit", "cancelled"])
def test_a_base_exception_from_a_handler_fails_the_attempt(
    engine: Engine, start_worker: StartWorker, kind: str, pool: str
) -> None:
    task = enqueue(engine, "exit_slot", {"kind": kind}, max_attempts=2)
    after = enqueue(engine, "echo", {"after": kind})
    start_worker("--pool", pool, "--concurrency", "1")
    dead = ended(engine, task, TaskState.DEAD)
    expected = "SystemExit" if kind == "exit" else "asyncio.exceptions.CancelledError"
    assert (dead.error_type, dead.attempts) == (expected, 2)  # retried, then dead
    assert ended(engine, after, TaskState.SUCCEEDED).result["args"] == {"after": kind}


@pytest.mark.parametrize("pool", POOLS)
def test_progress_the_queue_refuses_strands_nothing(
    engine: Engine, start_worker: StartWorker, pool: str
) -> None:
    task = enqueue(engine, "long_progress")
    after = enqueue(engine, "echo", {"after": pool})
    start_worker("--pool", pool, "--concurrency", "1")
    assert ended(engine, task, TaskState.SUCCEEDED).result == "done"
    assert ended(engine, after, TaskState.SUCCEEDED).result["args"] == {"after": pool}


def test_a_child_that_died_while_idle_is_replaced_before_the_next_task(
    engine: Engine, start_worker: StartWorker
) -> None:
    first = enqueue(engine, "pid")
    proc = start_worker("--pool", "process", "--concurrency", "1")
    child_pid = ended(engine, first, TaskState.SUCCEEDED).result
    assert child_pid in {p.pid for p in psutil.Process(proc.pid).children(recursive=True)}
    psutil.Process(child_pid).send_signal(signal.SIGKILL)
    wait_for(lambda: not _alive(child_pid), what="the idle child gone")
    task = enqueue(engine, "echo", {"after": "death"}, max_attempts=1)
    done = ended(engine, task, TaskState.SUCCEEDED)
    assert (done.result["args"], done.attempts) == ({"after": "death"}, 1)


def test_a_rollback_on_a_dead_connection_reports_the_handlers_failure(
    engine: Engine, start_worker: StartWorker, db_url: str
) -> None:
    task = enqueue(engine, "rollback_on_dead_connection", {"url": db_url})
    after = enqueue(engine, "echo", {"after": "rollback"})
    start_worker("--concurrency", "1")
    dead = ended(engine, task, TaskState.DEAD)
    assert (dead.error_type, dead.error_message) == (
        "ValueError",
        "failing after the connection died",
    )
    assert ended(engine, after, TaskState.SUCCEEDED).result["args"] == {"after": "rollback"}


@pytest.mark.slow  # about 3 s
def test_a_commit_that_certainly_failed_is_a_failure_not_a_lost_lease(
    engine: Engine, start_worker: StartWorker
) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE public.deferred_unique (k int,"
                " UNIQUE (k) DEFERRABLE INITIALLY DEFERRED)"
            )
        )
    task = enqueue(engine, "commit_refused")
    proc = start_worker("--concurrency", "1", "--lease", "300")  # a lost lease waits 300 s
    dead = ended(engine, task, TaskState.DEAD)
    assert dead.error_type == "CommitFailed"
    assert "deferred_unique" in (dead.error_message or "")
    proc.wait_log("task.commit_failed")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM deferred_unique")).scalar_one() == 0


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_transactional_success_after_its_timeout_does_not_commit(
    engine: Engine, start_worker: StartWorker
) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE public.side_effects (marker text)"))
    task = enqueue(engine, "slow_transaction", {"marker": "late"}, max_attempts=1)
    start_worker("--concurrency", "1")
    dead = ended(engine, task, TaskState.DEAD)
    assert dead.error_type == "TaskTimeout"
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM side_effects")).scalar_one() == 0
