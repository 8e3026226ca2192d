"""Wake-ups that land while the control thread is busy are kept, not overwritten."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy.engine import Engine

import queue_core
from queue_core import TaskState
from worker import Worker, WorkerConfig, recorder
from worker import loop as loop_module

from ..support import wait_for
from .handlers import registry


def test_a_notification_during_an_empty_claim_is_not_lost(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim's snapshot predates an enqueue whose NOTIFY arrives before the claim returns:
    the worker must claim again rather than wait for its next poll (ten minutes away)."""
    config = WorkerConfig(queues=("default",), concurrency=2, poll_interval=600, listen=False)
    worker = Worker(registry, engine, config)
    real_round = recorder.run_round  # what worker.loop calls
    late: list[queue_core.Task] = []

    def round_then_enqueue(conn: Any, config: WorkerConfig, done: Any, free: int) -> Any:
        done_round = real_round(conn, config, done, free)
        if free and not done_round.claimed and not late:  # the first claim found nothing
            with engine.begin() as other:
                late.append(queue_core.enqueue(other, "echo", {"late": True}))
            worker._notified()  # what the LISTEN thread does when the NOTIFY arrives
        return done_round

    monkeypatch.setattr(loop_module, "run_round", round_then_enqueue)
    runner = threading.Thread(target=worker.run, daemon=True)
    runner.start()
    try:
        wait_for(lambda: late, what="the first, empty claim")

        def succeeded() -> bool:
            with engine.connect() as conn:
                return queue_core.get(conn, late[0].id).state is TaskState.SUCCEEDED

        wait_for(succeeded, timeout=10.0, what="the late task to run without a poll")
    finally:
        worker.stop()
        runner.join(timeout=30)
    assert not runner.is_alive()
