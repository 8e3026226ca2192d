"""queue_core.records: the status record, the queue record and the listing cursor that the HTTP
API, the CLI's --json and the dashboard all show (their own tests check what each adds)."""

from __future__ import annotations

import base64
import json
import re
import uuid
from datetime import datetime

import pytest
from sqlalchemy.engine import Engine

import queue_core
from queue_core import Failure, TaskState, records

from .helpers import claim, enqueue, get

RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
FIELDS = [
    "id", "task", "queue", "state", "attempt", "max_attempts", "priority", "run_at",
    "timeout_seconds", "cancel_requested", "progress", "created_at", "started_at",
    "finished_at", "error", "errors", "lease_expires_at",
]  # fmt: skip


def test_a_queued_task_has_every_field_and_no_result(engine: Engine) -> None:
    task = enqueue(engine, "mail", args={"to": "a"}, queue="q", priority=3, timeout_seconds=9)
    record = records.status_record(task)
    assert list(record) == FIELDS  # the order the API has always served
    assert record["id"] == str(task.id) and record["state"] == "queued"
    assert (record["task"], record["queue"], record["priority"]) == ("mail", "q", 3)
    assert (record["attempt"], record["max_attempts"], record["timeout_seconds"]) == (0, 3, 9)
    assert record["progress"] == {"current": None, "total": None, "message": None}
    assert RFC3339_UTC.fullmatch(record["created_at"]) and RFC3339_UTC.fullmatch(record["run_at"])
    assert record["started_at"] is None and record["finished_at"] is None
    assert record["error"] is None and record["errors"] == []
    assert record["cancel_requested"] is False
    assert record["lease_expires_at"] is None
    json.dumps(record)  # JSON as it is


def test_a_running_task_names_its_lease_expiry(engine: Engine) -> None:
    enqueue(engine)
    [running] = claim(engine)
    record = records.status_record(get(engine, running.id))
    assert record["state"] == "running"
    assert record["lease_expires_at"] == records.timestamp(running.run_at) == record["run_at"]


def test_links_come_before_the_result_once_the_task_succeeded(engine: Engine) -> None:
    enqueue(engine)
    [running] = claim(engine)
    with queue_core.transaction(engine) as conn:
        queue_core.complete(conn, running.lease, {"sent": 2})
    record = records.status_record(get(engine, running.id), links={"self": "/t"})
    assert list(record)[-2:] == ["links", "result"]
    assert record["links"] == {"self": "/t"} and record["result"] == {"sent": 2}
    assert RFC3339_UTC.fullmatch(record["finished_at"])


def test_errors_and_the_cancellation_a_task_records(engine: Engine) -> None:
    enqueue(engine, max_attempts=2)
    [running] = claim(engine)
    with queue_core.transaction(engine) as conn:
        failure = Failure(running.lease, "Boom", "it broke", "Traceback ...", retry_in=0)
        assert queue_core.fail(conn, failure) is TaskState.QUEUED
    record = records.status_record(get(engine, running.id))
    assert record["error"] == {"type": "Boom", "message": "it broke"}
    [entry] = record["errors"]
    assert set(entry) == {"attempt", "type", "message", "at"}  # no traceback
    assert (entry["attempt"], entry["type"], entry["message"]) == (1, "Boom", "it broke")

    queued = enqueue(engine)
    with queue_core.transaction(engine) as conn:
        cancelled = queue_core.cancel(conn, queued.id)
    assert records.status_record(cancelled)["error"] == {
        "type": "Cancelled",
        "message": "the task was cancelled",
    }


def test_the_queue_record_counts_every_state_and_flags_an_unserved_queue(engine: Engine) -> None:
    enqueue(engine, queue="waiting")
    with queue_core.connection(engine) as conn:
        [stats] = queue_core.stats(conn)
    record = records.queue_record(stats)
    assert record["counts"] == {
        "queued": 1,
        "running": 0,
        "succeeded": 0,
        "dead": 0,
        "cancelled": 0,
    }
    assert record["queue"] == "waiting" and record["workers"] == 0 and record["unserved"]
    assert not records.queue_record(stats, workers=1)["unserved"]


def test_a_cursor_pages_through_every_task_once(engine: Engine) -> None:
    made = {enqueue(engine, queue="paged").id for _ in range(7)}
    seen: list[uuid.UUID] = []
    before: tuple[datetime, uuid.UUID] | None = None
    with queue_core.connection(engine) as conn:
        while page := queue_core.list_tasks(conn, queue="paged", limit=3, before=before):
            seen += [t.id for t in page]
            cursor = records.encode_cursor(page[-1])
            assert re.fullmatch(r"[A-Za-z0-9_-]+", cursor)  # opaque, and safe in a URL
            before = records.decode_cursor(cursor)
            assert before == (page[-1].created_at, page[-1].id)
    assert len(seen) == 7 and set(seen) == made


def _encoded(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not-a-cursor",
        "1.abc",
        "\udcff",
        "é",
        _encoded([]),
        _encoded(["2026-12-01T09:00:00+00:00"]),
        _encoded(["2026-12-01T09:00:00+00:00", 5]),  # an id that is no string
        _encoded([5, str(uuid.uuid4())]),
        _encoded(["2026-12-01T09:00:00", str(uuid.uuid4())]),  # no offset: ambiguous
        _encoded(["yesterday", str(uuid.uuid4())]),
        _encoded(["2026-12-01T09:00:00+00:00", "not-a-uuid"]),
        _encoded({"a": 1, "b": 2}),
        base64.urlsafe_b64encode(b"[" * 100_000).decode(),  # nests past the recursion limit
    ],
)
def test_anything_else_is_an_invalid_cursor(cursor: str) -> None:
    with pytest.raises(queue_core.InvalidTaskError) as refused:
        records.decode_cursor(cursor)
    assert refused.value.field == "cursor"
