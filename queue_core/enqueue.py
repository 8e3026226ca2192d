"""Enqueue: one task or many, inside the caller's transaction.

The insert forces ``synchronous_commit = on`` for the transaction, so once the caller's commit
returns, the task survives a Postgres crash. Listening workers are woken at commit.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from . import ids as ids_module
from . import sql, tracing, validation
from .db import Executor, copy_in, run_direct
from .errors import (
    DatabaseError,
    DatabaseUnavailable,
    IdempotencyConflict,
    InvalidTaskError,
    KeyRevoked,
)
from .models import JSON, Task, TaskId
from .schema import DEFAULT_SCHEMA, notify_channel
from .steps import Steps, drive
from .validation import DEFAULT_MAX_ATTEMPTS as DEFAULT_MAX_ATTEMPTS

DEFAULT_QUEUE = "default"
DEFAULT_TENANT = "default"
MAX_BATCH = 10_000


@dataclasses.dataclass(frozen=True, slots=True)
class NewTask:
    """One task to enqueue. Give at most one of ``run_at`` (aware datetime) and ``delay``."""

    task: str
    args: dict[str, JSON] = dataclasses.field(default_factory=dict)
    queue: str = DEFAULT_QUEUE
    priority: int = 0
    run_at: datetime | None = None
    delay: float | timedelta | None = None
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    timeout_seconds: int | None = None
    idempotency_key: str | None = None


class _Row(NamedTuple):
    """A validated NewTask, ready to bind."""

    id: TaskId
    queue: str
    task: str
    args: str
    priority: int
    run_at: datetime | None
    delay: float | None
    max_attempts: int
    timeout_seconds: int | None
    idempotency_key: str | None
    fingerprint: str | None
    traceparent: str | None = None


def enqueue(
    executor: Executor,
    task: str,
    args: dict[str, JSON] | None = None,
    *,
    queue: str = DEFAULT_QUEUE,
    priority: int = 0,
    run_at: datetime | None = None,
    delay: float | timedelta | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    timeout_seconds: int | None = None,
    idempotency_key: str | None = None,
    tenant: str = DEFAULT_TENANT,
    schema: str = DEFAULT_SCHEMA,
) -> Task:
    """Add one task in the caller's transaction and return it; it exists once that commits.

    Higher ``priority`` runs first. With ``idempotency_key``, enqueueing the same content again
    returns the existing task (for the same tenant); different content raises
    :class:`IdempotencyConflict`. Raises :class:`InvalidTaskError` (nothing written) on bad input.
    """
    new = NewTask(
        task=task,
        args={} if args is None else args,
        queue=queue,
        priority=priority,
        run_at=run_at,
        delay=delay,
        max_attempts=max_attempts,
        timeout_seconds=timeout_seconds,
        idempotency_key=idempotency_key,
    )
    return enqueue_many(executor, [new], tenant=tenant, schema=schema)[0]


def enqueue_many(
    executor: Executor,
    tasks: Sequence[NewTask],
    *,
    tenant: str = DEFAULT_TENANT,
    schema: str = DEFAULT_SCHEMA,
    key_id: str | None = None,
) -> list[Task]:
    """Add up to 10,000 tasks in one statement, all or nothing; returns them in input order.

    Idempotency keys behave as in :func:`enqueue`; a key repeated within the batch with the
    same content yields the same task twice. With ``key_id`` (the API key a caller verified
    earlier, perhaps long ago) nothing is written unless that key is still live, checked in
    the same statement; else :class:`KeyRevoked` is raised.
    """
    return drive(executor, enqueue_steps(tasks, tenant=tenant, schema=schema, key_id=key_id))


def enqueue_steps(
    tasks: Sequence[NewTask], *, tenant: str, schema: str, key_id: str | None
) -> Steps[list[Task]]:
    """:func:`enqueue_many` as steps (queue_core.steps): the sync and async enqueue alike."""
    rows = _validate_batch(tasks, tenant)
    with tracing.producer(sorted({row.queue for row in rows}), len(rows)) as span:
        rows = _traced(rows, tracing.traceparent(span))
        found = yield from _enqueue_rows(rows, tenant, schema, key_id)
        if span is not None and len(found) == 1:
            span.set_attribute("messaging.message.id", str(found[0].id))
        return found


def _traced(rows: list[_Row], traceparent: str | None) -> list[_Row]:
    """The rows carrying the enqueue's trace context, if any (OpenTelemetry, opt-in)."""
    if traceparent is None:
        return rows
    return [row._replace(traceparent=traceparent) for row in rows]


def _enqueue_rows(
    rows: list[_Row], tenant: str, schema: str, key_id: str | None
) -> Steps[list[Task]]:
    stmts = sql.for_schema(schema)
    params = _bind(rows, tenant, schema)
    if key_id is not None:
        params["key_id"] = key_id
    inserted = yield (stmts.enqueue if key_id is None else stmts.enqueue_as_key), params
    by_id = {task.id: task for task in map(Task.from_row, inserted.rows)}
    missing = [row for row in rows if row.id not in by_id]
    if missing:
        if key_id is not None and not inserted.rows:
            live = (yield stmts.key_is_live, {"key_id": key_id}).rows[0].live
            if not live:
                raise KeyRevoked(key_id)
        by_id.update((yield from _existing(missing, tenant, schema)))
    return [by_id[row.id] for row in rows]


def enqueue_many_ids(
    executor: Executor,
    tasks: Sequence[NewTask],
    *,
    tenant: str = DEFAULT_TENANT,
    schema: str = DEFAULT_SCHEMA,
) -> list[TaskId]:
    """:func:`enqueue_many` answering only the tasks' ids (in input order): for bulk loads,
    where reading every inserted row back would cost more than inserting it.

    A batch of :data:`COPY_FROM` tasks or more, none with an idempotency key, is loaded with
    ``COPY`` (same rows, same durable commit and wake-up, no session state: it works behind a
    transaction pooler too); other batches are one INSERT."""
    rows = _validate_batch(tasks, tenant)
    statements_ = sql.for_schema(schema)
    if all(row.idempotency_key is None for row in rows):
        # Nothing can conflict (the ids are new): no row needs reading back.
        if len(rows) >= COPY_FROM:
            _copy(executor, rows, tenant, schema)
            return [row.id for row in rows]
        result = run_direct(executor, statements_.enqueue_quiet, _bind(rows, tenant, schema))
        if result.rowcount != len(rows):
            raise DatabaseError(f"inserted {result.rowcount} of {len(rows)} tasks")
        return [row.id for row in rows]
    found = run_direct(executor, statements_.enqueue_ids, _bind(rows, tenant, schema))
    inserted = {TaskId(row.id) for row in found.rows}
    missing = [row for row in rows if row.id not in inserted]
    existing = drive(executor, _existing(missing, tenant, schema)) if missing else {}
    return [row.id if row.id in inserted else existing[row.id].id for row in rows]


#: From how many rows (without idempotency keys) :func:`enqueue_many_ids` loads them with COPY
#: rather than one INSERT: COPY parses less and writes less WAL per row, but costs two more
#: round trips, which only a batch this large repays.
COPY_FROM = 100


def _copy(executor: Executor, rows: list[_Row], tenant: str, schema: str) -> None:
    """Load validated rows without keys with COPY, as enqueue_quiet's INSERT would store them:
    the same durable commit and wake-up (enqueue_copy_start, first), and each row's run_at
    computed from the database clock as the INSERT computes it."""
    stmts = sql.for_schema(schema)
    params = {"channel": notify_channel(schema), "queues": _queues(rows)}
    now: datetime = run_direct(executor, stmts.enqueue_copy_start, params).rows[0].now
    # in UTC: an aware datetime in a zone with daylight saving adds a delay to its wall clock,
    # Postgres adds it to the instant
    now = now.astimezone(UTC)
    data = "".join(_copy_lines(rows, tenant, now))
    copied = copy_in(executor, stmts.enqueue_copy, data)
    if copied != len(rows):
        raise DatabaseError(f"inserted {copied} of {len(rows)} tasks")


def _copy_lines(rows: list[_Row], tenant: str, now: datetime) -> Iterator[str]:
    """The rows in COPY's text format, in enqueue_copy's column order. Ids (as 32 hex digits,
    a form Postgres reads), names (validated), numbers, times and trace contexts hold no
    character COPY treats specially; args is JSON text, whose only such character is the
    backslash (JSON escapes every control character)."""
    due_now = now.isoformat()
    for row in rows:
        args = row.args
        if "\\" in args:
            args = args.replace("\\", "\\\\")
        if row.run_at is not None:
            run_at = row.run_at.isoformat()
        elif row.delay:
            run_at = (now + _interval(row.delay)).isoformat()
        else:
            run_at = due_now
        timeout = _NULL if row.timeout_seconds is None else int(row.timeout_seconds)
        trace = _NULL if row.traceparent is None else row.traceparent
        yield (
            f"{row.id.int:032x}\t{tenant}\t{row.queue}\t{row.task}\t{args}"
            f"\t{int(row.priority)}\t{run_at}\t{int(row.max_attempts)}\t{timeout}\t{trace}\n"
        )


_NULL = "\\N"  # COPY text format's NULL


def _interval(delay: float) -> timedelta:
    """``make_interval(secs => delay)`` as Postgres computes it: whole microseconds, rounded
    half to even (``rint``) from the same double product."""
    return timedelta(microseconds=round(delay * 1_000_000))


def _validate_batch(tasks: Sequence[NewTask], tenant: str) -> list[_Row]:
    validation.queue_name(tenant, "tenant")
    if not 1 <= len(tasks) <= MAX_BATCH:
        raise InvalidTaskError("tasks", f"a batch holds 1 to {MAX_BATCH} tasks, not {len(tasks)}")
    ids = ids_module.uuid7s(len(tasks))
    names = _Names()
    if len(tasks) == 1:
        rows = [_validate_fields(tasks[0], ids[0], names)]
    else:
        rows = []
        for i, new in enumerate(tasks):
            try:
                rows.append(_validate_fields(new, ids[i], names))
            except InvalidTaskError as exc:
                raise _in_batch(exc, i) from exc.__cause__
    _check_duplicate_keys(rows)
    return rows


def _in_batch(exc: InvalidTaskError, i: int) -> InvalidTaskError:
    """``exc`` naming its field within the batch (``tasks[3].queue``); an idempotency key's
    error has always named the key alone."""
    if exc.field == "idempotency_key":
        return exc
    return InvalidTaskError(f"tasks[{i}].{exc.field}", exc.reason)


class _Names:
    """The queue and task names a batch has shown valid so far: a batch's rows mostly share
    a few, each checked once. Only ``str`` values are remembered (no subclass with its own
    equality or hash)."""

    __slots__ = ("queues", "tasks")

    def __init__(self) -> None:
        self.queues: set[str] = set()
        self.tasks: set[str] = set()

    def queue(self, value: object) -> str:
        if type(value) is str and value in self.queues:
            return value
        name = validation.queue_name(value, "queue")
        if type(value) is str:
            self.queues.add(value)
        return name

    def task(self, value: object) -> str:
        if type(value) is str and value in self.tasks:
            return value
        name = validation.task_name(value, "task")
        if type(value) is str:
            self.tasks.add(value)
        return name


def _validate_fields(new: NewTask, task_id: uuid.UUID, names: _Names) -> _Row:
    """One task's fields checked (in this order: the first error is the one raised), each
    error naming its field alone."""
    run_at = None if new.run_at is None else validation.aware_datetime(new.run_at, "run_at")
    delay = None if new.delay is None else validation.seconds(new.delay, "delay")
    if run_at is not None and delay is not None:
        raise InvalidTaskError("run_at", "give run_at or delay, not both")
    timeout = new.timeout_seconds
    row = _Row(
        TaskId(task_id),
        names.queue(new.queue),
        names.task(new.task),
        validation.json_object(new.args, "args"),
        validation.integer(new.priority, "priority", *validation.PRIORITY_RANGE),
        run_at,
        delay,
        validation.integer(new.max_attempts, "max_attempts", *validation.MAX_ATTEMPTS_RANGE),
        None if timeout is None else validation.optional_timeout(timeout, "timeout_seconds"),
        None if new.idempotency_key is None else validation.idempotency_key(new.idempotency_key),
        None,
    )
    if row.idempotency_key is None:
        return row
    return row._replace(fingerprint=_fingerprint(row, validation.canonical_json(new.args)))


def _fingerprint(row: _Row, args: str) -> str:
    """Hash of the content as given (a delay, not the run_at it yields), for idempotent replays.
    ``args`` is their canonical text: objects' keys sorted, so key order is no content."""
    source = validation.fingerprint_source(
        {
            "task": row.task,
            "args": args,
            "queue": row.queue,
            "priority": row.priority,
            "run_at": None if row.run_at is None else row.run_at.isoformat(),
            "delay": row.delay,
            "max_attempts": row.max_attempts,
            "timeout_seconds": row.timeout_seconds,
        }
    )
    return hashlib.sha256(source.encode()).hexdigest()


def _legacy_match(existing: Task, row: _Row) -> bool:
    """Whether ``existing`` was fingerprinted by an earlier release, which hashed the args in
    the order they were given: a replay across an upgrade still finds its task."""
    return existing.fingerprint == _fingerprint(row, row.args)


def _check_duplicate_keys(rows: list[_Row]) -> None:
    seen: dict[str, _Row] = {}
    for row in rows:
        if row.idempotency_key is None:
            continue
        first = seen.setdefault(row.idempotency_key, row)
        if first.fingerprint != row.fingerprint:
            raise IdempotencyConflict(row.idempotency_key, str(first.id))


def _bind(rows: list[_Row], tenant: str, schema: str) -> dict[str, Any]:
    return {
        "channel": notify_channel(schema),
        "tenant": tenant,
        "queues": _queues(rows),
        "rows": "[" + ",".join(map(_row_json, rows)) + "]",
    }


def _queues(rows: list[_Row]) -> str:
    """The batch's queues, each once, as an array literal (validated names need no quoting)."""
    return "{" + ",".join(sorted({row.queue for row in rows})) + "}"


def _row_json(row: _Row) -> str:
    """One row as a JSON object. Queue and task names (validated) need no escaping, args is
    JSON text already; the rest is numbers, ids, or dumped."""
    text = f'{{"id":"{row.id}","queue":"{row.queue}","task":"{row.task}","args":{row.args}'
    text += f',"priority":{int(row.priority)},"max_attempts":{int(row.max_attempts)}'
    if row.run_at is not None:
        text += f',"run_at":"{row.run_at.isoformat()}"'
    if row.delay is not None:
        text += f',"delay":{row.delay!r}'
    if row.timeout_seconds is not None:
        text += f',"timeout_seconds":{int(row.timeout_seconds)}'
    if row.idempotency_key is not None:
        text += f',"idempotency_key":{json.dumps(row.idempotency_key)}'
        text += f',"fingerprint":"{row.fingerprint}"'
    if row.traceparent is not None:  # built by queue_core.tracing: hex digits and dashes
        text += f',"traceparent":"{row.traceparent}"'
    return text + "}"


def _existing(missing: list[_Row], tenant: str, schema: str) -> Steps[dict[TaskId, Task]]:
    """Tasks already holding the keys of rows the insert skipped, checked for equal content."""
    keys = [row.idempotency_key for row in missing]
    params = {"tenant": tenant, "keys": keys}
    found = yield sql.for_schema(schema).by_idempotency_keys, params
    by_key = {task.idempotency_key: task for task in map(Task.from_row, found.rows)}
    result: dict[TaskId, Task] = {}
    for row in missing:
        key = str(row.idempotency_key)
        existing = by_key.get(key)
        if existing is None:  # the holder was deleted (pruned) between the insert and this read
            raise DatabaseUnavailable(
                f"the task holding idempotency key {key!r} was deleted while this enqueue ran;"
                " retry"
            )
        if existing.fingerprint != row.fingerprint and not _legacy_match(existing, row):
            raise IdempotencyConflict(key, str(existing.id))
        result[row.id] = existing
    return result
