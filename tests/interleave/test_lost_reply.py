"""A round whose reply is lost after the server committed it: its claims are not orphaned."""

from __future__ import annotations

import signal
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from queue_core import TaskState
from worker.loop import EXIT_RELEASED

from ..support import wait_for
from ..worker.conftest import StartWorker, enqueue, fetch
from ..worker.test_running import ended
from ..worker.test_signals import running_on
from .proxy import ReplyDropper

ROUND = b"WITH done AS"  # the worker's round statement (record and claim)


def test_the_claims_of_a_round_whose_reply_was_lost_run_without_another_attempt(
    engine: Engine, start_worker: StartWorker, db_url: str
) -> None:
    task = enqueue(engine, "echo", {"round": "lost"}, max_attempts=1)
    url = sa.make_url(db_url)
    with ReplyDropper(url.port or 5432, url.host or "127.0.0.1") as proxy:
        proxy.arm(ROUND)
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
        proc = start_worker("--lease", "5", url=proxied)
        assert proxy.dropped.wait(30), "the round's reply was never swallowed"
        # Without adoption the task waits out its 5 s lease, then ends dead (LeaseExpired):
        # its one attempt was charged by a claim whose handler never ran.
        done = ended(engine, task, TaskState.SUCCEEDED)
        assert (done.result, done.attempts) == ({"args": {"round": "lost"}, "attempt": 1}, 1)
        proc.wait_log("task.adopted")


def test_an_adopted_task_still_running_at_a_graceful_stop_is_released(
    engine: Engine, start_worker: StartWorker, db_url: str, tmp_path: Path
) -> None:
    """Adopted claims are in flight like any other: a graceful stop hands them back at once
    (queued again, no longer stamped with the worker) instead of leaving them to a 30 s lease."""
    task = enqueue(engine, "block", {"release": str(tmp_path / "never")}, max_attempts=3)
    url = sa.make_url(db_url)
    with ReplyDropper(url.port or 5432, url.host or "127.0.0.1") as proxy:
        proxy.arm(ROUND)
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
        proc = start_worker("--lease", "30", "--grace", "0", url=proxied)
        assert proxy.dropped.wait(30), "the round's reply was never swallowed"
        proc.wait_log("task.adopted")
        wait_for(lambda: running_on(engine, task, proc.pid), what="the adopted task running")
        proc.process.send_signal(signal.SIGTERM)
        assert proc.wait_exit() == EXIT_RELEASED
    proc.wait_log("task.released")
    back = fetch(engine, task)
    # A started handler keeps its charged attempt (test_release.py): one attempt, queued again.
    assert (back.state, back.worker_id, back.attempts) == (TaskState.QUEUED, None, 1), back


def test_claims_of_a_lost_round_not_yet_adopted_at_a_graceful_stop_are_handed_back(
    engine: Engine, start_worker: StartWorker, db_url: str
) -> None:
    """The database is out of reach right after the lost reply, so the worker cannot look for
    the round's claims before it is told to stop. Its shutdown looks for them and hands them
    back, refunded (no handler started): without that, the one-attempt task would wait out the
    30 s lease and then end dead with its attempt spent, although it never ran."""
    task = enqueue(engine, "echo", {"round": "lost"}, max_attempts=1)
    url = sa.make_url(db_url)
    with ReplyDropper(url.port or 5432, url.host or "127.0.0.1", then_refuse=True) as proxy:
        proxy.arm(ROUND)
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
        proc = start_worker("--lease", "30", "--grace", "0", url=proxied)
        assert proxy.dropped.wait(30), "the round's reply was never swallowed"
        claimed = fetch(engine, task)
        assert (claimed.state, claimed.attempts) == (TaskState.RUNNING, 1), claimed
        proc.wait_log("database.unavailable")  # it tried again and found no database
        proc.process.send_signal(signal.SIGTERM)
        proc.wait_log("worker.stopping")
        proxy.accept_again()
        assert proc.wait_exit() == EXIT_RELEASED
    back = fetch(engine, task)
    assert (back.state, back.worker_id, back.attempts) == (TaskState.QUEUED, None, 0), back
    assert "task.adopted" in proc.text() and "task.released" in proc.text()
