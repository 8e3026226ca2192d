"""The worker's side of the state machine: claim, heartbeat, progress, complete, fail, release.

Every function after ``claim`` is fenced by the lease token the claim stamped: it takes effect
only while that token still matches, so a worker that lost its lease (it stalled past the
expiry and another worker re-claimed the task, or the task was finished or released) can never
overwrite a later attempt. Single-task forms raise :class:`LeaseLost`; batch forms return the
ids that took effect. The caller owns the transaction.
"""

from __future__ import annotations

import operator
import uuid
from collections.abc import Iterable, Sequence

from . import sql, validation
from .db import Executor, run, run_direct
from .errors import InvalidTaskError, LeaseLost
from .models import JSON, Claimed, Failure, Heartbeat, Lease, Round, Task, TaskId, TaskState
from .schema import DEFAULT_SCHEMA
from .steps import Steps, drive

DEFAULT_LEASE_SECONDS = 30.0
MAX_CLAIM = 1000
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 3600.0


def claim(
    executor: Executor,
    queues: Sequence[str],
    n: int = 1,
    *,
    lease_for: float = DEFAULT_LEASE_SECONDS,
    worker_id: str,
    schema: str = DEFAULT_SCHEMA,
) -> list[Task]:
    """Lease up to ``n`` due tasks of ``queues`` (higher priority first, then oldest run_at).

    Includes running tasks whose lease expired. Each returned task is ``running`` with a fresh
    ``lease_token``, ``attempts`` counted, and its lease ending ``lease_for`` seconds from now
    by the database clock. Commit promptly: rows stay locked until the transaction ends.
    """
    params = _claim_params(_queue_names(queues), n, lease_for, worker_id)
    return [Task.from_row(r) for r in run(executor, sql.for_schema(schema).claim, params)]


def heartbeat(
    executor: Executor,
    leases: Iterable[Lease],
    *,
    lease_for: float = DEFAULT_LEASE_SECONDS,
    schema: str = DEFAULT_SCHEMA,
) -> Heartbeat:
    """Extend every lease that still holds, in one statement, to ``lease_for`` seconds from now.

    Reports which leases are held (with whether a cancel was requested) and which were lost.
    """
    leases = list(leases)
    if not leases:
        return Heartbeat(held={}, lost=frozenset(), lost_leases=frozenset())
    params = {
        "ids": [lease.task_id for lease in leases],
        "tokens": [lease.token for lease in leases],
        "lease_seconds": validation.seconds(lease_for, "lease_for", maximum=86400),
    }
    rows = run(executor, sql.for_schema(schema).heartbeat, params).all()
    held = {TaskId(row.id): bool(row.cancel_requested) for row in rows}
    lost = frozenset(leases) - {Lease(row.id, row.lease_token) for row in rows}
    return Heartbeat(held=held, lost=frozenset(lease.task_id for lease in lost), lost_leases=lost)


def progress(
    executor: Executor,
    lease: Lease,
    current: int | None,
    total: int | None = None,
    message: str | None = None,
    *,
    schema: str = DEFAULT_SCHEMA,
) -> bool:
    """Store a running task's progress; returns whether a cancel was requested.

    Raises :class:`LeaseLost` when the lease no longer holds.
    """
    return drive(executor, progress_steps(lease, current, total, message, schema=schema))


def progress_steps(
    lease: Lease, current: int | None, total: int | None, message: str | None, *, schema: str
) -> Steps[bool]:
    """:func:`progress` as steps (queue_core.steps), for the sync and async worker alike."""
    limit = 2**63 - 1
    params = {
        "id": lease.task_id,
        "token": lease.token,
        "current": None if current is None else validation.integer(current, "current", 0, limit),
        "total": None if total is None else validation.integer(total, "total", 0, limit),
        "message": None
        if message is None
        else validation.text(message, "message", max_length=1000),
    }
    rows = (yield sql.for_schema(schema).progress, params).rows
    if not rows:
        raise LeaseLost(lease.task_id)
    return bool(rows[0].cancel_requested)


def complete(
    executor: Executor,
    lease: Lease,
    result: JSON = None,
    *,
    durable: bool = True,
    schema: str = DEFAULT_SCHEMA,
) -> None:
    """Record a successful attempt and its JSON result. Raises :class:`LeaseLost`."""
    if not complete_many(executor, [(lease, result)], durable=durable, schema=schema):
        raise LeaseLost(lease.task_id)


def complete_many(
    executor: Executor,
    outcomes: Sequence[tuple[Lease, JSON]],
    *,
    durable: bool = True,
    schema: str = DEFAULT_SCHEMA,
) -> set[TaskId]:
    """Record many successful attempts in one statement; returns the ids that took effect.

    With ``durable=False`` the commit does not wait for the WAL flush: cheaper, but after a
    Postgres crash a task already shown as succeeded may be lost back to running and run again.
    """
    return drive(executor, complete_steps(outcomes, durable=durable, schema=schema))


def complete_steps(
    outcomes: Sequence[tuple[Lease, JSON]], *, durable: bool, schema: str
) -> Steps[set[TaskId]]:
    """:func:`complete_many` as steps (queue_core.steps), for the sync and async worker alike."""
    if not outcomes:
        return set()
    params = {**_success_params(outcomes), "synchronous_commit": _commit_mode(durable)}
    found = yield sql.for_schema(schema).complete, params
    return {TaskId(row.id) for row in found.rows}


def fail(
    executor: Executor,
    failure: Failure,
    *,
    durable: bool = True,
    schema: str = DEFAULT_SCHEMA,
) -> TaskState:
    """Record a failed attempt; returns where the task went (queued, dead or cancelled).

    A retryable failure with attempts left goes back to ``queued`` after ``retry_in`` seconds or
    a jittered exponential backoff; otherwise the task is ``dead`` (``cancelled`` if a cancel was
    requested). Raises :class:`LeaseLost`.
    """
    states = fail_many(executor, [failure], durable=durable, schema=schema)
    if failure.lease.task_id not in states:
        raise LeaseLost(failure.lease.task_id)
    return states[failure.lease.task_id]


def fail_many(
    executor: Executor,
    failures: Sequence[Failure],
    *,
    durable: bool = True,
    backoff_base: float = BACKOFF_BASE_SECONDS,
    backoff_cap: float = BACKOFF_CAP_SECONDS,
    schema: str = DEFAULT_SCHEMA,
) -> dict[TaskId, TaskState]:
    """Record many failed attempts in one statement; returns the new state of each that took
    effect (a lost lease is absent)."""
    if not failures:
        return {}
    params = {
        **_fail_params(failures, backoff_base, backoff_cap),
        "synchronous_commit": _commit_mode(durable),
    }
    rows = run(executor, sql.for_schema(schema).fail, params)
    return {TaskId(row.id): TaskState(row.state) for row in rows}


def record_and_claim(
    executor: Executor,
    successes: Sequence[tuple[Lease, JSON]],
    failures: Sequence[Failure],
    queues: Sequence[str],
    n: int,
    *,
    lease_for: float = DEFAULT_LEASE_SECONDS,
    worker_id: str,
    durable: bool = True,
    backoff_base: float = BACKOFF_BASE_SECONDS,
    backoff_cap: float = BACKOFF_CAP_SECONDS,
    schema: str = DEFAULT_SCHEMA,
) -> Round:
    """:func:`complete_many`, :func:`fail_many` and :func:`claim` (``n`` may be 0) in one
    statement: one round trip, and one commit when run in autocommit mode.

    The tasks being recorded are never among those claimed. ``durable`` applies to the whole
    transaction (claims included).
    """
    params = {
        **_success_params(successes),
        **_fail_params(failures, backoff_base, backoff_cap),
        **_claim_params(_queue_names(queues), n, lease_for, worker_id, minimum=0),
        "synchronous_commit": _commit_mode(durable),
    }
    recording = [lease.task_id for lease, _ in successes] + [f.lease.task_id for f in failures]
    params["busy"] = params["ids"] if not failures else _uuid_array(recording)
    rows = run_direct(executor, sql.for_schema(schema).round, params).rows
    first = rows[0]
    return Round(
        completed={TaskId(i) for i in first.completed_ids or ()},
        failed={
            TaskId(i): TaskState(state)
            for i, state in zip(first.failed_ids or (), first.failed_states or (), strict=True)
        },
        claimed=[Claimed._make(_claimed(row)) for row in rows if row.id is not None],
    )


def adopt(
    executor: Executor,
    held: Iterable[Lease],
    *,
    within: float,
    lease_for: float = DEFAULT_LEASE_SECONDS,
    worker_id: str,
    schema: str = DEFAULT_SCHEMA,
) -> list[Claimed]:
    """The tasks a round of ``worker_id`` claimed in the last ``within`` seconds whose reply
    was lost: running under a lease ``worker_id`` does not hold (``held``).

    For a worker whose round failed with an unknown outcome: the round may have committed, its
    claims then wait for no one. Their leases are extended by ``lease_for`` seconds and they
    are returned to be run as claimed (the claim counted the attempt). Worker ids must be
    unique among running workers (the worker's default, ``host:pid:random suffix``, is;
    ``host:pid`` alone is not: containers share host names and pids).
    """
    params = {
        "held": _uuid_array([lease.token for lease in held]),
        "within": validation.seconds(within, "within", maximum=86400),
        "lease_seconds": validation.seconds(lease_for, "lease_for", maximum=86400),
        "worker_id": validation.text(worker_id, "worker_id", max_length=200),
    }
    rows = run(executor, sql.for_schema(schema).adopt, params)
    return [Claimed._make(_claimed(row)) for row in rows]


#: A claimed row's values in the order of Claimed's fields, read by name.
_claimed = operator.attrgetter(*Claimed._fields)


def _uuid_array(values: Sequence[uuid.UUID]) -> str:
    """An array literal of UUIDs (their text has nothing to quote)."""
    for value in values:
        if not isinstance(value, uuid.UUID):
            raise InvalidTaskError("lease", f"expected a UUID, got {type(value).__name__}")
    return "{" + ",".join(map(str, values)) + "}"


def _json_array(values: Sequence[JSON], field: str) -> str:
    """One JSON array of the values (null costs nothing to check)."""
    return (
        "["
        + ",".join(
            "null" if value is None else validation.json_text(value, field) for value in values
        )
        + "]"
    )


def release(
    executor: Executor,
    leases: Iterable[Lease],
    *,
    refund: bool = True,
    schema: str = DEFAULT_SCHEMA,
) -> set[TaskId]:
    """Hand unfinished tasks back to the queue at once.

    For graceful shutdown. With ``refund`` (their handlers never started) the attempt the claim
    counted is given back. Without, it stays charged: the task is queued again, or ``dead``
    (``WorkerStopped``) when that was its last attempt, so a handler that hangs cannot run
    forever across restarts. Returns the ids released (a lost lease is absent).
    """
    leases = list(leases)
    if not leases:
        return set()
    params = {
        "ids": [x.task_id for x in leases],
        "tokens": [x.token for x in leases],
        "refund": bool(refund),
    }
    return {TaskId(row.id) for row in run(executor, sql.for_schema(schema).release, params)}


def _queue_names(queues: Sequence[str]) -> list[str]:
    if isinstance(queues, str) or not queues:
        raise InvalidTaskError("queues", "give a non-empty list of queue names")
    return [validation.queue_name(q, "queues") for q in queues]


def _claim_params(
    queues: list[str], n: int, lease_for: float, worker_id: str, *, minimum: int = 1
) -> dict[str, object]:
    return {
        "queues": queues,
        "n": validation.integer(n, "n", minimum, MAX_CLAIM),
        "lease_seconds": validation.seconds(lease_for, "lease_for", maximum=86400),
        "worker_id": validation.text(worker_id, "worker_id", max_length=200),
    }


def _success_params(outcomes: Sequence[tuple[Lease, JSON]]) -> dict[str, str]:
    """Ids and tokens as array literals, results as one JSON array: one string each, which
    costs the client far less to send than an array of values."""
    return {
        "ids": _uuid_array([lease.task_id for lease, _ in outcomes]),
        "tokens": _uuid_array([lease.token for lease, _ in outcomes]),
        "results": _json_array([result for _, result in outcomes], "result"),
    }


def _fail_params(
    failures: Sequence[Failure], backoff_base: float, backoff_cap: float
) -> dict[str, object]:
    return {
        "f_ids": [f.lease.task_id for f in failures],
        "f_tokens": [f.lease.token for f in failures],
        "retryable": [f.retryable for f in failures],
        "retry_in": [_retry_in(f) for f in failures],
        "error_types": [
            validation.text(f.error_type, "error_type", max_length=200) for f in failures
        ],
        "error_messages": [_clip(f.error_message, 4000) for f in failures],
        "error_tracebacks": [
            None if f.error_traceback is None else _clip(f.error_traceback, 8000) for f in failures
        ],
        "backoff_base": backoff_base,
        "backoff_cap": backoff_cap,
    }


def _commit_mode(durable: bool) -> str:
    return "on" if durable else "off"


def _retry_in(failure: Failure) -> float | None:
    if failure.retry_in is None:
        return None
    return validation.seconds(failure.retry_in, "retry_in")


def _clip(value: str, limit: int) -> str:
    """Error text comes from arbitrary exceptions: keep it storable and bounded."""
    cleaned = value.replace("\x00", "\\0").encode("utf-8", "replace").decode("utf-8")
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"
