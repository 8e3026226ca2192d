"""A graceful stop releases what still runs; a handler that started keeps its attempt."""

from __future__ import annotations

import functools
import signal
from pathlib import Path

from sqlalchemy.engine import Engine

from queue_core import TaskState

from ..support import wait_for
from .conftest import TIMEOUT, StartWorker, enqueue, fetch
from .test_signals import running_on


def test_a_hanging_handler_ends_dead_across_rolling_restarts(
    engine: Engine, start_worker: StartWorker, tmp_path: Path
) -> None:
    task = enqueue(engine, "block", {"release": str(tmp_path / "never")}, max_attempts=2)
    for attempt in (1, 2):
        proc = start_worker("--grace", "0")
        wait_for(
            functools.partial(running_on, engine, task, proc.pid), what="running", timeout=TIMEOUT
        )
        assert fetch(engine, task).attempts == attempt  # ctx.attempt grows across restarts
        proc.process.send_signal(signal.SIGTERM)
        assert proc.wait_exit() == 3
    spent = fetch(engine, task)
    assert (spent.state, spent.attempts, spent.error_type) == (TaskState.DEAD, 2, "WorkerStopped")
