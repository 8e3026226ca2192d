"""Results the database refuses, or that are too large, fail their own attempt and nothing more:
the worker never retries the same round forever."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from queue_core import Claimed, LeaseToken, TaskId, TaskState
from worker.jobs import Job
from worker.outcome import MAX_RESULT_BYTES, Failed, Succeeded, checked_result
from worker.recorder import Done, round_share

from .conftest import StartWorker, enqueue
from .test_running import ended


def test_a_result_the_database_refuses_fails_alone_and_wedges_nothing(
    engine: Engine, start_worker: StartWorker
) -> None:
    with engine.begin() as conn:  # stands for any value Postgres refuses to store
        conn.execute(
            sa.text(
                "ALTER TABLE taskrow.tasks ADD CONSTRAINT small_results"
                " CHECK (result IS NULL OR octet_length(result::text) < 1000)"
            )
        )
    refused = enqueue(engine, "sized", {"n": 2000}, max_attempts=1)
    fine = [enqueue(engine, "echo", {"i": i}) for i in range(3)]
    proc = start_worker("--concurrency", "4")
    dead = ended(engine, refused, TaskState.DEAD)
    assert dead.error_type == "OutcomeRefused" and "small_results" in (dead.error_message or "")
    for task in fine:
        assert ended(engine, task, TaskState.SUCCEEDED).result["args"] == task.args
    after = enqueue(engine, "echo", {"after": True})
    assert ended(engine, after, TaskState.SUCCEEDED).result["args"] == {"after": True}
    proc.wait_log("task.outcome_refused")
    assert "database.unavailable" not in proc.text()


def test_a_result_over_the_limit_fails_with_result_too_large(
    engine: Engine, start_worker: StartWorker
) -> None:
    big = enqueue(engine, "sized", {"n": MAX_RESULT_BYTES - 1}, max_attempts=1)
    just = enqueue(engine, "sized", {"n": 10})
    start_worker("--concurrency", "1")
    dead = ended(engine, big, TaskState.DEAD)
    assert dead.error_type == "ResultTooLarge"
    assert str(MAX_RESULT_BYTES) in (dead.error_message or "")
    assert ended(engine, just, TaskState.SUCCEEDED).result == "x" * 10


def test_the_limit_counts_bytes_of_json() -> None:
    assert isinstance(checked_result("x" * (MAX_RESULT_BYTES - 2)), Succeeded)
    assert isinstance(checked_result("x" * (MAX_RESULT_BYTES - 1)), Failed)
    assert isinstance(checked_result("é" * (MAX_RESULT_BYTES // 2)), Failed)  # two bytes each


def test_rounds_are_split_by_the_size_of_their_results() -> None:
    done: list[Done] = [(_job(), Succeeded("r", size)) for size in (40, 30, 30, 100, 5)]
    assert round_share(done, budget=100) == done[:3]
    assert round_share(done[3:], budget=100) == done[3:4]  # alone over budget: still written
    assert round_share(done[4:], budget=100) == done[4:]


def _job() -> Job:
    task = Claimed(
        TaskId(uuid.uuid4()),
        LeaseToken(uuid.uuid4()),
        "t",
        "q",
        "noop",
        {},
        1,
        1,
        None,
        datetime.now(UTC),
    )
    return Job(task, None)
