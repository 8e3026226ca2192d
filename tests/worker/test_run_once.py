"""The worker loop in-process through ``run_once()``: handlers' outcomes and how they are stored."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

import queue_core
from queue_core import Task, TaskState
from worker import Worker, WorkerConfig

from .handlers import registry


def make_worker(engine: Engine, concurrency: int = 4) -> Worker:
    config = WorkerConfig(queues=("default",), concurrency=concurrency, lease=2, listen=False)
    return Worker(registry, engine, config)


def enqueue(engine: Engine, task: str, args: dict[str, object] | None = None, **kw: object) -> Task:
    with engine.begin() as conn:
        return queue_core.enqueue(conn, task, args, **kw)  # type: ignore[arg-type]


def get(engine: Engine, task: Task) -> Task:
    with engine.connect() as conn:
        return queue_core.get(conn, task.id)


def test_result_is_stored(engine: Engine) -> None:
    task = enqueue(engine, "echo", {"x": [1, 2]})
    assert make_worker(engine).run_once() == 1
    done = get(engine, task)
    assert done.state is TaskState.SUCCEEDED
    assert done.result == {"args": {"x": [1, 2]}, "attempt": 1}


def test_args_reach_the_handler_as_they_were_enqueued(engine: Engine) -> None:
    """The round's rows are decoded by the worker's own JSON loader: every JSON value, and no
    arguments at all, arrive as given."""
    args: dict[str, object] = {
        "text": 'é 漢字 \u2028 " \\ \t',
        "big": 123456789012345678901234567890,
        "real": 1.5,
        "nested": {"list": [None, True, {}], "empty": ""},
    }
    task = enqueue(engine, "echo", args)
    bare = enqueue(engine, "echo")
    assert make_worker(engine).run_once() == 2
    assert get(engine, task).result == {"args": args, "attempt": 1}
    assert get(engine, bare).result == {"args": {}, "attempt": 1}


def test_batch_claim_is_sized_to_free_slots(engine: Engine) -> None:
    tasks = [enqueue(engine, "noop") for _ in range(5)]
    assert make_worker(engine, concurrency=3).run_once() == 3
    states = sorted(get(engine, t).state for t in tasks)
    assert states.count(TaskState.SUCCEEDED) == 3
    assert states.count(TaskState.QUEUED) == 2


def test_unknown_task_ends_dead_with_a_clear_error(engine: Engine) -> None:
    task = enqueue(engine, "no.such.task", max_attempts=5)
    make_worker(engine).run_once()
    done = get(engine, task)
    assert done.state is TaskState.DEAD
    assert done.error_type == "UnknownTask"
    assert "no.such.task" in (done.error_message or "")
    assert done.attempts == 1


def test_retry_with_delay_requeues_later(engine: Engine) -> None:
    task = enqueue(engine, "later")
    make_worker(engine).run_once()
    done = get(engine, task)
    assert done.state is TaskState.QUEUED
    assert done.error_type == "Retry"
    assert done.run_at > datetime.now(UTC) + timedelta(minutes=50)


def test_retry_until_success(engine: Engine) -> None:
    task = enqueue(engine, "flaky", {"failures": 2}, max_attempts=5)
    worker = make_worker(engine)
    for _ in range(3):
        assert worker.run_once() == 1
    done = get(engine, task)
    assert (done.state, done.result, done.attempts) == (TaskState.SUCCEEDED, 3, 3)


def test_fail_is_permanent(engine: Engine) -> None:
    task = enqueue(engine, "refuse", max_attempts=5)
    make_worker(engine).run_once()
    done = get(engine, task)
    assert (done.state, done.error_type) == (TaskState.DEAD, "Fail")
    assert done.error_message == "this input can never work"


@pytest.mark.parametrize(("kind", "state"), [("io", TaskState.QUEUED), ("bug", TaskState.DEAD)])
def test_retry_on_filters_exceptions(engine: Engine, kind: str, state: TaskState) -> None:
    task = enqueue(engine, "picky", {"kind": kind}, max_attempts=5)
    make_worker(engine).run_once()
    assert get(engine, task).state is state


def test_spec_max_attempts_caps_the_row(engine: Engine) -> None:
    task = enqueue(engine, "flaky", {"failures": 9}, max_attempts=20)
    worker = make_worker(engine)
    for _ in range(5):
        with engine.begin() as conn:  # skip the backoff wait
            conn.execute(
                sa.text("UPDATE taskrow.tasks SET run_at = now() WHERE id = :id"), {"id": task.id}
            )
        worker.run_once()
    done = get(engine, task)
    assert (done.state, done.attempts) == (TaskState.DEAD, 5)


def test_arguments_that_do_not_bind_end_dead(engine: Engine) -> None:
    task = enqueue(engine, "flaky", {"nope": 1})
    make_worker(engine).run_once()
    done = get(engine, task)
    assert (done.state, done.error_type) == (TaskState.DEAD, "BadArguments")


def test_a_type_error_the_handler_raises_is_retried_not_taken_for_bad_arguments(
    engine: Engine,
) -> None:
    task = enqueue(engine, "type_error", {"n": 1})
    make_worker(engine).run_once()
    done = get(engine, task)
    assert (done.state, done.error_type) == (TaskState.QUEUED, "TypeError")


def test_a_wrapped_handler_is_not_entered_with_arguments_that_do_not_bind(
    engine: Engine,
) -> None:
    """A decorator's own code would run before the inner call's TypeError: the arguments of a
    wrapped handler are checked against its signature before anything is called."""
    from .handlers import wrapper_calls

    bad = enqueue(engine, "wrapped", {"m": 1})
    good = enqueue(engine, "wrapped", {"n": 7})
    make_worker(engine).run_once()
    done = get(engine, bad)
    assert (done.state, done.error_type) == (TaskState.DEAD, "BadArguments")
    assert get(engine, good).result == 7
    assert wrapper_calls == [str(good.id)]


def test_non_json_result_ends_dead(engine: Engine) -> None:
    task = enqueue(engine, "not_json")
    make_worker(engine).run_once()
    assert get(engine, task).error_type == "InvalidResult"


@pytest.fixture
def side_effects(engine: Engine) -> Engine:
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE public.side_effects (marker text)"))
    return engine


def markers(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT marker FROM side_effects")).scalars())


def test_transaction_commits_with_the_completion(side_effects: Engine, db_url: str) -> None:
    marker = uuid.uuid4().hex
    task = enqueue(
        side_effects, "write_then_steal", {"url": db_url, "marker": marker, "steal": False}
    )
    make_worker(side_effects).run_once()
    assert get(side_effects, task).state is TaskState.SUCCEEDED
    assert markers(side_effects) == [marker]


def test_transaction_rolls_back_when_the_lease_was_stolen(
    side_effects: Engine, db_url: str
) -> None:
    marker = uuid.uuid4().hex
    task = enqueue(
        side_effects, "write_then_steal", {"url": db_url, "marker": marker, "steal": True}
    )
    make_worker(side_effects).run_once()
    done = get(side_effects, task)
    assert (done.state, done.worker_id, done.result) == (TaskState.RUNNING, "thief", None), done
    assert markers(side_effects) == []
