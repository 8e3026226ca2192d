"""A task's public record, a queue's, and the cursor of a listing: what every front-end shows.

The HTTP API (its status record, docs/api.md), the CLI's ``--json`` and the dashboard's page
links are built here, so the three agree. Field names are the HTTP contract: they are only
added to, never renamed. Times are RFC 3339 strings in UTC (``...Z``).

The cursor names the position after a task in newest-first order (``created_at``, then
``id``), as :func:`queue_core.list_tasks` takes it in ``before``: an opaque string (URL-safe
base64 of a JSON pair, unpadded) that any front-end hands out and any other accepts.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .errors import InvalidTaskError
from .models import QueueStats, Task, TaskState


def timestamp(value: datetime | None) -> str | None:
    """RFC 3339 in UTC, ``Z`` for the offset; None stays None."""
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def status_record(task: Task, *, links: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The status record of one task: ``result`` only once it succeeded, ``links`` when given
    (the HTTP API's ``self`` and ``result``; only it knows where it is served)."""
    record: dict[str, Any] = {
        "id": str(task.id),
        "task": task.task,
        "queue": task.queue,
        "state": task.state.value,
        "attempt": task.attempts,
        "max_attempts": task.max_attempts,
        "priority": task.priority,
        "run_at": timestamp(task.run_at),
        "timeout_seconds": task.timeout_seconds,
        "cancel_requested": task.cancel_requested,
        "progress": {
            "current": task.progress_current,
            "total": task.progress_total,
            "message": task.progress_message,
        },
        "created_at": timestamp(task.created_at),
        "started_at": timestamp(task.started_at),
        "finished_at": timestamp(task.finished_at),
        "error": error_record(task),
        "errors": error_history(task),
        # run_at while running, named on its own (a field added after the others)
        "lease_expires_at": timestamp(task.run_at) if task.state is TaskState.RUNNING else None,
    }
    if links is not None:
        record["links"] = dict(links)
    if task.state is TaskState.SUCCEEDED:
        record["result"] = task.result
    return record


def error_record(task: Task) -> dict[str, str | None] | None:
    """The last error; a cancelled task without one reports its cancellation."""
    if task.error_type is not None or task.error_message is not None:
        return {"type": task.error_type, "message": task.error_message}
    if task.state is TaskState.CANCELLED:
        return {"type": "Cancelled", "message": "the task was cancelled"}
    return None


def error_history(task: Task) -> list[dict[str, Any]]:
    """One entry per recent attempt that ended without succeeding, oldest first (no traceback:
    the dashboard and ``taskrow show`` display those)."""
    return [
        {key: entry.get(key) for key in ("attempt", "type", "message", "at")}
        for entry in task.errors
    ]


def queue_record(stats: QueueStats, workers: int = 0) -> dict[str, Any]:
    """One queue: its count per state (every state present), its oldest due age (seconds),
    the live workers consuming it, and whether it is :func:`unserved`."""
    return {
        "queue": stats.queue,
        "counts": {state.value: stats.counts.get(state, 0) for state in TaskState},
        "oldest_due_age_seconds": stats.oldest_due_age,
        "workers": workers,
        "unserved": unserved(stats, workers),
    }


def unserved(stats: QueueStats, workers: int) -> bool:
    """The queue holds queued tasks and no live worker consumes it (they wait for one)."""
    return workers == 0 and stats.counts.get(TaskState.QUEUED, 0) > 0


def encode_cursor(task: Task) -> str:
    """The cursor of the page that follows ``task`` (the last one shown)."""
    raw = json.dumps([task.created_at.isoformat(), str(task.id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The position an :func:`encode_cursor` string names, as ``list_tasks(before=...)``
    takes it. Anything else (truncated, altered, a time without its offset) raises
    :class:`InvalidTaskError` for the field ``cursor``."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, task_id = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if not isinstance(created, str) or not isinstance(task_id, str):
            raise ValueError("not a pair of strings")
        at = datetime.fromisoformat(created)
        if at.tzinfo is None:
            raise ValueError("naive time")
        return at, uuid.UUID(task_id)
    except (ValueError, TypeError, RecursionError, binascii.Error) as exc:
        # ValueError covers bad base64, JSON, UTF-8, ASCII, times and UUIDs
        raise InvalidTaskError("cursor", "is not a cursor taskrow handed out") from exc
