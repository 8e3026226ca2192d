"""Tasks and queue stats as JSON for ``--json``.

Field names and meanings are those of the HTTP API's records wherever the two overlap (id,
task, queue, state, attempt, max_attempts, progress, created_at, started_at, finished_at,
error, result; a queue's counts and oldest_due_age_seconds), so a script can read either.
Timestamps are RFC 3339 in UTC (``...Z``). Unlike the API's, every key is always present
(``null`` when absent: ``result`` is set only once the task succeeded), and there are no
``links`` (the CLI does not know where the API is served).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from queue_core import QueueStats, Task, TaskState


def timestamp(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def task_record(task: Task) -> dict[str, Any]:
    """The status record of one task (``run_at`` is the lease expiry while it runs)."""
    return {
        "id": str(task.id),
        "task": task.task,
        "queue": task.queue,
        "state": task.state.value,
        "attempt": task.attempts,
        "max_attempts": task.max_attempts,
        "progress": {
            "current": task.progress_current,
            "total": task.progress_total,
            "message": task.progress_message,
        },
        "created_at": timestamp(task.created_at),
        "started_at": timestamp(task.started_at),
        "finished_at": timestamp(task.finished_at),
        "error": error_record(task),
        "errors": [
            {key: entry.get(key) for key in ("attempt", "type", "message", "at")}
            for entry in task.errors
        ],
        "result": task.result if task.state is TaskState.SUCCEEDED else None,
        "args": task.args,
        "priority": task.priority,
        "run_at": timestamp(task.run_at),
        "timeout_seconds": task.timeout_seconds,
        "cancel_requested": task.cancel_requested,
        "idempotency_key": task.idempotency_key,
        "tenant": task.tenant,
        "worker_id": task.worker_id,
    }


def error_record(task: Task) -> dict[str, str | None] | None:
    """The last error; a cancelled task without one reports its cancellation (as the API does)."""
    if task.error_type is not None or task.error_message is not None:
        return {"type": task.error_type, "message": task.error_message}
    if task.state is TaskState.CANCELLED:
        return {"type": "Cancelled", "message": "the task was cancelled"}
    return None


def stats_record(entry: QueueStats, workers: int = 0) -> dict[str, Any]:
    """One queue: its count per state (every state present), its oldest due age (seconds), the
    live workers consuming it, and whether it holds queued tasks that none consumes."""
    return {
        "queue": entry.queue,
        "counts": {state.value: entry.counts.get(state, 0) for state in TaskState},
        "oldest_due_age_seconds": entry.oldest_due_age,
        "workers": workers,
        "unserved": unserved(entry, workers),
    }


def unserved(entry: QueueStats, workers: int) -> bool:
    """The queue holds queued tasks and no live worker consumes it."""
    return workers == 0 and entry.counts.get(TaskState.QUEUED, 0) > 0


def dumps(document: object) -> str:
    """One JSON document on one line (ASCII only, so any terminal or pipe carries it)."""
    return json.dumps(document, separators=(",", ":"))
