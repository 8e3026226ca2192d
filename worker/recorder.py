"""Persisting outcomes: one statement writes a batch of outcomes and claims the next tasks;
heartbeat results are applied to the running handlers' flags.

Fusing the acknowledgements with the next claim costs one round trip and one commit per round
instead of several per task. Outcomes are fenced by their lease token (queue_core), so an
outcome whose lease was lost is simply not applied; it is logged as ``task.lease_lost``. An
outcome whose lease was already known to be lost is not sent at all (``task.discarded``).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg.types.json import set_json_loads
from sqlalchemy.engine import Connection, Engine

import queue_core
from queue_core import Failure, Heartbeat, Round, TaskState

from .config import WorkerConfig
from .jobs import Job
from .logs import SuccessLines, task_event
from .outcome import Failed, Outcome, Recorded, Succeeded

Done = tuple[Job, Outcome]
#: At most this many bytes of results go in one round (a jsonb value holds at most 255 MiB).
MAX_ROUND_RESULT_BYTES = 64 * 2**20


def run_round(conn: Connection, config: WorkerConfig, done: list[Done], claim_n: int) -> Round:
    """Write ``done`` (fenced) and claim up to ``claim_n`` tasks, in one statement."""
    live = [(job, outcome) for job, outcome in done if not job.flags.lease_lost.is_set()]
    return queue_core.record_and_claim(
        conn,
        [(job.lease, o.result) for job, o in live if isinstance(o, Succeeded)],
        [_failure(job, o) for job, o in live if isinstance(o, Failed)],
        list(config.queues),
        claim_n,
        lease_for=config.lease,
        worker_id=config.worker_id,
        durable=config.durable,
        schema=config.schema,
    )


def round_share(pending: list[Done], budget: int = MAX_ROUND_RESULT_BYTES) -> list[Done]:
    """The first outcomes of ``pending`` whose results fit in ``budget`` bytes (at least one)."""
    total = 0
    for i, (_, outcome) in enumerate(pending):
        if isinstance(outcome, Succeeded):
            total += outcome.size
            if total > budget and i:
                return pending[:i]
    return list(pending)


def log_outcomes(done: list[Done], done_round: Round, successes: SuccessLines) -> None:
    """One line per outcome, after the commit that made it true (successes as ``successes``
    lets them: beyond its rate, counted in one line a second)."""
    for job, outcome in done:
        task_id = job.task.id
        if isinstance(outcome, Recorded):
            _log_applied(job, outcome.state, successes)
        elif job.flags.lease_lost.is_set():
            task_event("task.discarded", job, logging.WARNING, reason="lease_lost")
        elif isinstance(outcome, Succeeded):
            state = TaskState.SUCCEEDED if task_id in done_round.completed else None
            _log_applied(job, state, successes)
        else:
            _log_failure(job, outcome, done_round.failed.get(task_id))


def _log_applied(job: Job, state: TaskState | None, successes: SuccessLines) -> None:
    if state is None:
        task_event("task.lease_lost", job, logging.WARNING, result="discarded")
    else:
        successes.succeeded(job)


def _log_failure(job: Job, outcome: Failed, state: TaskState | None) -> None:
    if state is None:
        task_event("task.lease_lost", job, logging.WARNING, result="discarded")
        return
    event = {
        TaskState.QUEUED: "task.retrying",
        TaskState.DEAD: "task.dead",
        TaskState.CANCELLED: "task.cancelled",
    }.get(state, "task.failed")
    level = logging.INFO if state is TaskState.CANCELLED else logging.WARNING
    task_event(event, job, level, error_type=outcome.error_type, error=outcome.error_message[:200])


def apply_heartbeat(jobs: list[Job], beat: Heartbeat) -> None:
    """Flag the handlers whose lease was lost or whose task was asked to cancel."""
    for job in jobs:
        if job.lease in beat.lost_leases:
            job.flags.lease_lost.set()
            task_event("task.lease_lost", job, logging.WARNING, result="handler_running")
        elif beat.held.get(job.task.id) and not job.flags.cancel_requested.is_set():
            job.flags.cancel_requested.set()
            task_event("task.cancel_requested", job)


def _failure(job: Job, outcome: Failed) -> Failure:
    return Failure(
        job.lease,
        outcome.error_type,
        outcome.error_message,
        outcome.error_traceback,
        retryable=outcome.retryable and not job.last_attempt,
        retry_in=outcome.retry_in,
    )


def load_args(data: str | bytes) -> Any:
    """A claimed task's ``args`` (JSON from the round's rows): psycopg hands the JSON
    decoder bytes, whose encoding it then detects; decoding them as UTF-8 (what Postgres
    sends) first halves the cost, and the no-arguments case costs nothing."""
    if isinstance(data, bytes):
        if data == b"{}":
            return {}
        data = data.decode()
    return _DECODER.decode(data)


_DECODER = json.JSONDecoder()


def _prepares(conn: Connection) -> bool:
    """Whether psycopg prepares statements on this connection (not behind a transaction
    pooler): only then is a generic plan worth a session setting."""
    return getattr(conn.connection.driver_connection, "prepare_threshold", None) is not None


class RoundConnection:
    """The control thread's own connection for its rounds, kept between them.

    In autocommit, so a round (one statement) is one round trip and one commit, with no pool
    checkout around it; with ``plan_cache_mode = force_generic_plan`` (unless ``generic_plans``
    is off), so the round's statement (prepared by psycopg after a few runs) is not planned
    again at every run. A connection that prepares nothing (``pooler="transaction"``, behind a
    transaction pooler, where a session setting would outlive this client) gets no setting.
    Any error drops the connection; the next round opens a new one.
    """

    def __init__(self, engine: Engine, *, generic_plans: bool = True) -> None:
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._generic_plans = generic_plans
        self._conn: Connection | None = None

    @contextlib.contextmanager
    def connect(self) -> Iterator[Connection]:
        with queue_core.translate_errors():
            if self._conn is None:
                conn = self._engine.connect()
                try:
                    driver = conn.connection.driver_connection
                    if isinstance(driver, psycopg.Connection):
                        set_json_loads(load_args, driver)  # this connection's rounds only
                    if self._generic_plans and _prepares(conn):
                        conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
                except BaseException:
                    conn.invalidate()
                    conn.close()
                    raise
                self._conn = conn
            try:
                yield self._conn
            except BaseException:
                self.close()
                raise

    def close(self) -> None:
        """Close the connection for good (a session setting must not go back to the pool)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.invalidate()
            conn.close()
