"""The JSON a client sees for a task (the status record), a queue and a page of tasks.

Field names of the status record are the HTTP contract (docs/architecture.md, "The HTTP
contract"): they are only added to, never renamed. Times are RFC 3339 strings in UTC.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import request

import queue_core
from queue_core import Task, TaskState

from .bodies import invalid


def status_record(task: Task) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": str(task.id),
        "task": task.task,
        "queue": task.queue,
        "state": task.state.value,
        "attempt": task.attempts,
        "max_attempts": task.max_attempts,
        "priority": task.priority,
        "run_at": _time(task.run_at),
        "timeout_seconds": task.timeout_seconds,
        "cancel_requested": task.cancel_requested,
        "progress": {
            "current": task.progress_current,
            "total": task.progress_total,
            "message": task.progress_message,
        },
        "created_at": _time(task.created_at),
        "started_at": _time(task.started_at),
        "finished_at": _time(task.finished_at),
        "error": _error(task),
        "errors": error_history(task),
        "links": {"self": task_url(task), "result": result_url(task)},
    }
    if task.state is TaskState.SUCCEEDED:
        record["result"] = task.result
    return record


def result_record(task: Task) -> dict[str, Any]:
    return {
        "id": str(task.id),
        "state": task.state.value,
        "result": task.result,
        "finished_at": _time(task.finished_at),
        "links": {"self": result_url(task), "task": task_url(task)},
    }


def queue_record(stats: queue_core.QueueStats, workers: int = 0) -> dict[str, Any]:
    """``workers``: live workers consuming the queue; ``unserved``: it holds queued tasks that
    no live worker consumes (they wait until one starts)."""
    return {
        "queue": stats.queue,
        "counts": {state.value: stats.counts.get(state, 0) for state in TaskState},
        "oldest_due_age_seconds": stats.oldest_due_age,
        "workers": workers,
        "unserved": workers == 0 and stats.counts.get(TaskState.QUEUED, 0) > 0,
    }


#: Where the ``/v1`` blueprint's task routes live under the app's root; what ``url_for`` would
#: build for them (a test checks), at a fraction of its cost on every 202.
TASKS_PATH = "/v1/tasks/"


def task_url(task: Task) -> str:
    return f"{request.script_root}{TASKS_PATH}{task.id}"


def result_url(task: Task) -> str:
    return f"{request.script_root}{TASKS_PATH}{task.id}/result"


def encode_cursor(task: Task) -> str:
    """An opaque cursor naming the position after ``task`` in newest-first order."""
    raw = json.dumps([task.created_at.isoformat(), str(task.id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, task_id = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        at = datetime.fromisoformat(created)
        if at.tzinfo is None:
            raise ValueError("naive time")
        return at, uuid.UUID(task_id)
    except (ValueError, TypeError, UnicodeError, binascii.Error) as exc:
        raise invalid("cursor", "is not a cursor this API handed out") from exc


def error_history(task: Task) -> list[dict[str, Any]]:
    """One entry per recent attempt that ended without succeeding, oldest first (no traceback:
    the dashboard shows those)."""
    return [
        {key: entry.get(key) for key in ("attempt", "type", "message", "at")}
        for entry in task.errors
    ]


def _error(task: Task) -> dict[str, str | None] | None:
    if task.error_type is not None or task.error_message is not None:
        return {"type": task.error_type, "message": task.error_message}
    if task.state is TaskState.CANCELLED:
        return {"type": "Cancelled", "message": "the task was cancelled"}
    return None


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")
