"""Log lines about tasks (one per transition) and the text / JSON output formats.

Every task line starts with a stable event name (``task.claimed``, ``task.succeeded``,
``task.failed``, ``task.retrying``, ``task.dead``, ``task.cancelled``, ``task.lease_lost``,
``task.discarded``, ``task.released``, ``task.timed_out``) and carries ``task_id``, ``task``,
``attempt`` and, once it ran, ``duration`` (seconds). The JSON format emits the same fields as
keys of one object per line.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .jobs import Job

logger = logging.getLogger("worker.tasks")

Observer = Callable[[str, Job], None]
_observers: list[Observer] = []


def observe(observer: Observer) -> None:
    """Call ``observer(event, job)`` for every task transition (metrics hook in here)."""
    _observers.append(observer)


def task_event(event: str, job: Job, level: int = logging.INFO, **fields: Any) -> None:
    """Log one transition of ``job``'s task with its id, name, attempt and duration."""
    for observer in _observers:
        observer(event, job)
    if not logger.isEnabledFor(level):
        return
    values: dict[str, Any] = {
        "event": event,
        "task_id": str(job.task.id),
        "task": job.task.task,
        "attempt": job.task.attempts,
        "duration": round(job.elapsed(), 4),
        **fields,
    }
    extra_text = "".join(f" {key}=%s" for key in fields)
    logger.log(
        level,
        "%s task_id=%s task=%s attempt=%s duration=%.3f" + extra_text,
        event,
        values["task_id"],
        values["task"],
        values["attempt"],
        values["duration"],
        *fields.values(),
        extra={"fields": values},
    )


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the task fields if any."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if isinstance(record.msg, str):  # every message starts with its event name
            payload["event"] = record.msg.split(" ", 1)[0]
        payload.update(getattr(record, "fields", {}))
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


def configure(fmt: str = "text", level: int = logging.INFO) -> None:
    """Send logs to stderr in ``text`` or ``json`` format (at the CLI edge only)."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
