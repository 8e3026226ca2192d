"""A worker's round in one statement: record successes and failures, claim the next tasks."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

import queue_core
from queue_core import Failure, InvalidTaskError, Round, TaskState

from .helpers import claim, enqueue, expire_leases, get


def record_and_claim(engine: Engine, *args: object, **kw: object) -> Round:
    kw.setdefault("worker_id", "test-worker")
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
    with autocommit.connect() as conn:
        return queue_core.record_and_claim(conn, *args, **kw)  # type: ignore[arg-type]


def test_records_both_kinds_of_outcome_and_claims_in_one_statement(engine: Engine) -> None:
    ok, bad, last = (enqueue(engine, max_attempts=1) for _ in range(3))
    waiting = [enqueue(engine) for _ in range(3)]
    held = {t.id: t for t in claim(engine, n=3)}
    done = record_and_claim(
        engine,
        [(held[ok.id].lease, {"n": 1})],
        [Failure(held[bad.id].lease, "Boom", "it broke", None, retryable=True)],
        ["default"],
        2,
    )
    assert done.completed == {ok.id}
    assert done.failed == {bad.id: TaskState.DEAD}  # its only attempt
    assert [t.id for t in done.claimed] == [w.id for w in waiting[:2]]
    assert all(t.lease_token and t.attempts == 1 for t in done.claimed)
    assert get(engine, ok.id).result == {"n": 1}
    assert get(engine, bad.id).error_type == "Boom"
    assert get(engine, last.id).state is TaskState.RUNNING  # not part of this round


def test_a_task_being_recorded_is_never_claimed_in_the_same_round(engine: Engine) -> None:
    task = enqueue(engine)
    [held] = claim(engine)
    expire_leases(engine)  # claimable again, yet its worker reports in just now
    done = record_and_claim(engine, [(held.lease, None)], [], ["default"], 5)
    assert done.completed == {task.id}
    assert done.claimed == []
    assert get(engine, task.id).state is TaskState.SUCCEEDED


def test_lost_leases_are_left_out_and_an_empty_round_answers(engine: Engine) -> None:
    task = enqueue(engine)
    [first] = claim(engine, worker_id="stalled")
    expire_leases(engine)
    [second] = claim(engine, worker_id="rescuer")
    done = record_and_claim(
        engine,
        [(first.lease, "late")],
        [Failure(first.lease, "Late", "late", None, retryable=True)],
        ["default"],
        0,
    )
    assert done == Round(completed=set(), failed={}, claimed=[])
    after = get(engine, task.id)
    assert (after.state, after.lease_token) == (TaskState.RUNNING, second.lease_token)


def test_bad_arguments_raise_before_anything_is_written(engine: Engine) -> None:
    task = enqueue(engine)
    [held] = claim(engine)
    with pytest.raises(InvalidTaskError):
        record_and_claim(engine, [(held.lease, None)], [], [], 1)
    with pytest.raises(InvalidTaskError):
        record_and_claim(engine, [(held.lease, float("nan"))], [], ["default"], 1)
    assert get(engine, task.id).state is TaskState.RUNNING


def test_the_round_statement_stays_short_enough_for_psycopg_to_cache(engine: Engine) -> None:
    """psycopg re-parses longer statements at every run: a cost paid per round, per worker."""
    from psycopg import _queries

    statement = queue_core.statements.for_schema("taskrow").sync
    sent = str(statement.compile(dialect=engine.dialect))
    assert len(sent) <= _queries.MAX_CACHED_STATEMENT_LENGTH
    assert len(statement.compile().params) <= _queries.MAX_CACHED_STATEMENT_PARAMS


@pytest.mark.parametrize(("durable", "mode"), [(True, "on"), (False, "off")])
def test_the_round_sets_the_commit_mode_of_its_transaction(
    engine: Engine, durable: bool, mode: str
) -> None:
    task = enqueue(engine)
    [held] = claim(engine)
    with engine.begin() as conn:
        queue_core.record_and_claim(
            conn, [(held.lease, None)], [], ["default"], 1, worker_id="w", durable=durable
        )
        setting = conn.execute(sa.text("SELECT current_setting('synchronous_commit')"))
        assert setting.scalar_one() == mode
    assert get(engine, task.id).state is TaskState.SUCCEEDED
