"""Model-based test: random sequences of operations against a plain-Python model of the task
lifecycle (docs/architecture.md, section 3).

After every step the database must agree with the model, and the promises of
docs/architecture.md hold:
a running task holds exactly one lease token, attempts never exceed max_attempts, a stale token
changes nothing, and no task is lost (every enqueued task is in the table until pruned).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, multiple, rule
from sqlalchemy.engine import Engine

import queue_core
from queue_core import Failure, Lease, LeaseLost, LeaseToken, TaskId, TaskState


@dataclasses.dataclass
class Model:
    state: TaskState
    attempts: int
    max_attempts: int
    token: LeaseToken | None = None
    expired: bool = False
    cancel_requested: bool = False


class QueueMachine(RuleBasedStateMachine):
    engine: Engine
    leases = Bundle("leases")
    ids = Bundle("ids")

    def __init__(self) -> None:
        super().__init__()
        self.model: dict[TaskId, Model] = {}
        with self.engine.begin() as conn:
            conn.execute(sa.text("TRUNCATE taskrow.tasks"))

    @rule(target=ids, max_attempts=st.integers(1, 3))
    def enqueue(self, max_attempts: int) -> TaskId:
        with self.engine.begin() as conn:
            task = queue_core.enqueue(conn, "t", max_attempts=max_attempts)
        self.model[task.id] = Model(TaskState.QUEUED, 0, max_attempts)
        return task.id

    @rule(target=leases)
    def claim(self) -> object:
        with self.engine.begin() as conn:
            got = queue_core.claim(conn, ["default"], 1000, worker_id="w")
        expected = set()
        for task_id, m in self.model.items():
            if m.state is TaskState.QUEUED:
                expected.add(task_id)
            elif m.state is TaskState.RUNNING and m.expired:
                if m.cancel_requested:
                    m.state, m.token = TaskState.CANCELLED, None
                elif m.attempts >= m.max_attempts:
                    m.state, m.token = TaskState.DEAD, None
                else:
                    expected.add(task_id)
        assert {t.id for t in got} == expected
        for task in got:
            m = self.model[task.id]
            assert task.lease_token is not None and task.lease_token != m.token
            m.state, m.attempts, m.token, m.expired = (
                TaskState.RUNNING,
                m.attempts + 1,
                task.lease_token,
                False,
            )
            m.cancel_requested = False
        return multiple(*(t.lease for t in got))

    @rule(
        target=leases,
        data=st.data(),
        stale=st.booleans(),
        retryable=st.booleans(),
        n=st.sampled_from([0, 1000]),
    )
    def record_and_claim(self, data: st.DataObject, stale: bool, retryable: bool, n: int) -> object:
        """A worker's round: successes, failures and a claim in one statement, one snapshot.
        It records leases the model holds (some perhaps expired) and, with ``stale``, one it
        no longer holds."""
        # In the model's order (enqueue order), and chosen by position: the same draws pick the
        # same tasks when hypothesis replays a case (the ids themselves are random).
        held = [Lease(i, m.token) for i, m in self.model.items() if m.token is not None]
        if stale and self.model:
            held.append(Lease(next(iter(self.model)), LeaseToken(uuid.uuid4())))
        positions = st.lists(st.integers(0, 7), max_size=3)
        pick = [held[i % len(held)] for i in data.draw(positions)] if held else []
        successes = _distinct(pick, ())
        pick = [held[i % len(held)] for i in data.draw(positions)] if held else []
        failures = _distinct(pick, successes)
        busy = {lease.task_id for lease in (*successes, *failures)}
        queued_before = {i for i, m in self.model.items() if m.state is TaskState.QUEUED}
        held_ok = [lease for lease in successes if self._holds(lease)]
        held_bad = [lease for lease in failures if self._holds(lease)]
        with self.engine.begin() as conn:
            done = queue_core.record_and_claim(
                conn,
                [(lease, {"done": True}) for lease in successes],
                [Failure(lease, "E", "x", retryable=retryable, retry_in=0) for lease in failures],
                ["default"],
                n,
                worker_id="w",
            )
        assert done.completed == {lease.task_id for lease in held_ok}
        expected_failed = {lease.task_id: self._failed(lease, retryable) for lease in held_bad}
        assert done.failed == expected_failed
        for lease in held_ok:
            m = self.model[lease.task_id]
            m.state, m.token, m.cancel_requested = TaskState.SUCCEEDED, None, False
        for task_id, state in expected_failed.items():
            m = self.model[task_id]
            m.state, m.token, m.cancel_requested = state, None, False
        if not n:
            assert done.claimed == []
            return multiple()
        expected = set(queued_before)
        for task_id, m in self.model.items():
            if m.state is TaskState.RUNNING and m.expired and task_id not in busy:
                if m.cancel_requested:
                    m.state, m.token = TaskState.CANCELLED, None
                elif m.attempts >= m.max_attempts:
                    m.state, m.token = TaskState.DEAD, None
                else:
                    expected.add(task_id)
        assert {c.id for c in done.claimed} == expected
        for claimed in done.claimed:
            m = self.model[claimed.id]
            m.state, m.attempts, m.token = TaskState.RUNNING, m.attempts + 1, claimed.lease_token
            m.expired, m.cancel_requested = False, False
        return multiple(*(Lease(c.id, c.lease_token) for c in done.claimed))

    def _failed(self, lease: Lease, retryable: bool) -> TaskState:
        m = self.model[lease.task_id]
        if m.cancel_requested:
            return TaskState.CANCELLED
        if retryable and m.attempts < m.max_attempts:
            return TaskState.QUEUED
        return TaskState.DEAD

    def _holds(self, lease: Lease) -> bool:
        m = self.model.get(lease.task_id)
        return m is not None and m.state is TaskState.RUNNING and m.token == lease.token

    @rule(lease=leases)
    def complete(self, lease: object) -> None:
        if not isinstance(lease, Lease):
            return
        ok = self._holds(lease)
        try:
            with self.engine.begin() as conn:
                queue_core.complete(conn, lease, {"done": True})
        except LeaseLost:
            assert not ok
            return
        assert ok
        m = self.model[lease.task_id]  # a finished task keeps no pending cancel request
        m.state, m.token, m.cancel_requested = TaskState.SUCCEEDED, None, False

    @rule(lease=leases, retryable=st.booleans())
    def fail(self, lease: object, retryable: bool) -> None:
        if not isinstance(lease, Lease):
            return
        ok = self._holds(lease)
        try:
            with self.engine.begin() as conn:
                state = queue_core.fail(
                    conn, Failure(lease, "E", "x", retryable=retryable, retry_in=0)
                )
        except LeaseLost:
            assert not ok
            return
        assert ok
        m = self.model[lease.task_id]
        if m.cancel_requested:
            expected = TaskState.CANCELLED
        elif retryable and m.attempts < m.max_attempts:
            expected = TaskState.QUEUED
        else:
            expected = TaskState.DEAD
        assert state is expected
        m.state, m.token, m.cancel_requested = expected, None, False

    @rule(lease=leases)
    def release(self, lease: object) -> None:
        if not isinstance(lease, Lease):
            return
        ok = self._holds(lease)
        with self.engine.begin() as conn:
            released = queue_core.release(conn, [lease])
        assert (released == {lease.task_id}) == ok
        if ok:
            m = self.model[lease.task_id]
            if m.cancel_requested:
                m.state = TaskState.CANCELLED
            else:
                m.state, m.attempts = TaskState.QUEUED, m.attempts - 1
            m.token, m.cancel_requested = None, False

    @rule()
    def heartbeat_everything(self) -> None:
        held = [Lease(i, m.token) for i, m in self.model.items() if m.token]
        with self.engine.begin() as conn:
            beat = queue_core.heartbeat(conn, held)
        assert set(beat.held) == {lease.task_id for lease in held} and not beat.lost
        for task_id, cancel in beat.held.items():
            assert cancel == self.model[task_id].cancel_requested
            self.model[task_id].expired = False

    @rule()
    def expire_leases(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "UPDATE taskrow.tasks SET run_at = now() - interval '1 s'"
                    " WHERE state = 'running'"
                )
            )
        for m in self.model.values():
            if m.state is TaskState.RUNNING:
                m.expired = True

    @rule(task_id=ids)
    def cancel(self, task_id: TaskId) -> None:
        m = self.model.get(task_id)
        try:
            with self.engine.begin() as conn:
                task = queue_core.cancel(conn, task_id)
        except queue_core.InvalidTransition:
            assert m is not None and m.state.finished
            return
        except queue_core.TaskNotFound:
            assert m is None
            return
        assert m is not None
        if m.state is TaskState.QUEUED:
            m.state = TaskState.CANCELLED
        else:
            m.cancel_requested = True
        assert task.state is m.state

    @rule(task_id=ids)
    def retry(self, task_id: TaskId) -> None:
        m = self.model.get(task_id)
        try:
            with self.engine.begin() as conn:
                queue_core.retry(conn, task_id)
        except queue_core.InvalidTransition:
            assert m is not None and m.state is not TaskState.DEAD
            return
        except queue_core.TaskNotFound:
            assert m is None
            return
        assert m is not None and m.state is TaskState.DEAD
        m.state, m.attempts = TaskState.QUEUED, 0

    @rule()
    def prune_finished(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "UPDATE taskrow.tasks SET finished_at = now() - interval '1 day'"
                    " WHERE finished_at IS NOT NULL"
                )
            )
        pruned = queue_core.prune_all(self.engine, older_than=3600, batch_size=3)
        finished = [i for i, m in self.model.items() if m.state.finished]
        assert pruned == len(finished)
        for task_id in finished:
            del self.model[task_id]

    @invariant()
    def database_agrees_with_the_model(self) -> None:
        with self.engine.connect() as conn:
            rows = {t.id: t for t in queue_core.list_tasks(conn, limit=1000)}
        assert set(rows) == set(self.model)  # nothing lost, nothing invented
        for task_id, m in self.model.items():
            row = rows[task_id]
            assert (row.state, row.attempts, row.lease_token) == (m.state, m.attempts, m.token)
            assert row.cancel_requested == m.cancel_requested
            assert row.attempts <= row.max_attempts
            assert (row.state is TaskState.RUNNING) == (row.lease_token is not None)
            assert (row.finished_at is not None) == row.state.finished


def _distinct(leases: list[Lease], taken: tuple[Lease, ...] | list[Lease]) -> list[Lease]:
    """One lease per task, none of a task in ``taken`` (a worker records each task once)."""
    seen = {lease.task_id for lease in taken}
    out = []
    for lease in leases:
        if lease.task_id not in seen:
            seen.add(lease.task_id)
            out.append(lease)
    return out


@pytest.fixture
def machine(engine: Engine) -> Iterator[type[QueueMachine]]:
    QueueMachine.engine = engine
    yield QueueMachine


def test_random_operation_sequences_match_the_model(machine: type[QueueMachine]) -> None:
    config = settings(
        max_examples=40,
        stateful_step_count=30,
        deadline=None,
        derandomize=True,  # the same sequences every run: CI is reproducible
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    machine.TestCase.settings = config
    machine.TestCase().runTest()
