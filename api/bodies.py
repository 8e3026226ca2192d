"""Parse request bodies: size cap, JSON only, and enqueue requests into ``NewTask`` values.

The body is read with a cap whether or not the client sent ``Content-Length`` (a chunked body
is cut off at the limit), so an oversized request costs at most the limit in memory.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from flask import request

import queue_core

from .problems import Problem

TASK_FIELDS = frozenset(
    {
        "task",
        "args",
        "queue",
        "priority",
        "delay_seconds",
        "run_at",
        "max_attempts",
        "timeout_seconds",
    }
)
_CHUNK = 64 * 1024


def json_body(limit: int) -> Any:
    """The request's JSON value: 415 unless JSON, 413 past ``limit`` bytes, 400 if malformed."""
    # The common exact header first: werkzeug's parse of parameters costs more than the rest.
    if request.environ.get("CONTENT_TYPE") != "application/json" and not _is_json(request.mimetype):
        raise Problem(415, "send the body as application/json")
    raw = read_capped(limit)
    try:
        return _DECODER.decode(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise Problem(400, f"the body is not valid UTF-8 (byte {exc.start})") from exc
    except RecursionError as exc:
        raise Problem(400, "the JSON body nests too deeply") from exc
    except ValueError as exc:
        raise Problem(400, f"the body is not valid JSON: {exc}") from exc


def read_capped(limit: int) -> bytes:
    """The body, at most ``limit`` bytes (else 413). A declared length is read as such (in one
    read, as a rule, and none past it: the server's stream ends there); a body without one
    (chunked) in chunks, until the limit is passed."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise Problem(413, f"the body is larger than {limit} bytes")
    stream = request.stream
    chunks: list[bytes] = []
    size = 0
    want = limit + 1 if declared is None else declared
    while size < want and (chunk := stream.read(min(_CHUNK, want - size))):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise Problem(413, f"the body is larger than {limit} bytes")
    return b"".join(chunks)


def _is_json(mimetype: str) -> bool:
    return mimetype == "application/json" or mimetype.endswith("+json")


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


# One decoder for every request (json.loads with an option builds a new one at each call).
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def new_task(
    body: object,
    prefix: str = "",
    idempotency_key: str | None = None,
    routes: Mapping[str, str] | None = None,
) -> queue_core.NewTask:
    """A ``NewTask`` from one JSON object; 422 naming the field when a field is wrong.

    Types are checked here (JSON has no datetimes); ranges and names by queue_core. Without a
    ``queue``, the task goes to its route's queue (``routes``: task name to queue), else to
    the default queue.
    """
    where = f"{prefix}." if prefix else ""
    if not isinstance(body, dict):
        raise invalid(prefix or "body", "must be a JSON object")
    unknown = sorted(set(body) - TASK_FIELDS)
    if unknown:
        raise invalid(f"{where}{unknown[0][:60]}", "is not a known field")
    if "task" not in body:
        raise invalid(f"{where}task", "is required")
    if body.get("delay_seconds") is not None and body.get("run_at") is not None:
        raise invalid(f"{where}run_at", "give run_at or delay_seconds, not both")
    return queue_core.NewTask(
        task=body["task"],
        args=body.get("args", {}),
        queue=body["queue"] if "queue" in body else _routed(body["task"], routes),
        priority=body.get("priority", 0),
        run_at=_datetime(body.get("run_at"), f"{where}run_at"),
        delay=body.get("delay_seconds"),
        max_attempts=body.get("max_attempts", queue_core.DEFAULT_MAX_ATTEMPTS),
        timeout_seconds=body.get("timeout_seconds"),
        idempotency_key=idempotency_key,
    )


# Joins a batch's Idempotency-Key and a task's index. A header value is read as Latin-1 (WSGI),
# so no single-task key holds this character (U+241F): batch keys never meet single keys.
BATCH_KEY_SEPARATOR = "\u241f"


def batch_key(key: str, index: int) -> str:
    """The idempotency key of task ``index`` of a batch sent with ``key``."""
    return f"{key}{BATCH_KEY_SEPARATOR}{index}"


def _routed(task: object, routes: Mapping[str, str] | None) -> str:
    if routes and isinstance(task, str):
        return str(routes.get(task, queue_core.DEFAULT_QUEUE))
    return queue_core.DEFAULT_QUEUE


def _datetime(value: object, field: str) -> datetime | None:
    """An RFC 3339 time, in UTC: Postgres refuses offsets past 15:59 that Python accepts."""
    if value is None:
        return None
    rule = "must be an RFC 3339 date-time string with an offset"
    if not isinstance(value, str):
        raise invalid(field, rule)
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise invalid(field, "needs a UTC offset (e.g. 2030-01-01T12:00:00Z)")
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise invalid(field, rule) from exc


def invalid(field: str, detail: str) -> Problem:
    return Problem(422, f"{field}: {detail}", errors=[{"field": field, "detail": detail}])
