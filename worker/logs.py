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
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from queue_core.lines import LineBudget, log_overflow

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


class SuccessLines:
    """The ``task.succeeded`` lines of one worker: one per success, up to ``per_second`` a
    second (None: no limit); the successes beyond are counted, and the count is logged once
    that second is over, as ``task.succeeded_count count=N seconds=S``. At debug level every
    success has its line. Observers (metrics) see every success either way.

    At thousands of tasks a second a line each would cost a quarter of the worker's CPU (a
    log line costs about 10 microseconds) and fill the logs with what the database already
    records; failures, retries, cancellations and lost leases are always logged one by one.
    """

    def __init__(self, per_second: int | None, clock: Callable[[], float] = time.monotonic) -> None:
        self._budget = LineBudget(per_second, clock)

    def succeeded(self, job: Job) -> None:
        if self._budget.per_second is None or logger.isEnabledFor(logging.DEBUG):
            task_event("task.succeeded", job)
            return
        written, over = self._budget.admit()
        log_overflow(logger, "task.succeeded", over)
        if written:
            task_event("task.succeeded", job)
            return
        for observer in _observers:
            observer("task.succeeded", job)

    def tick(self, now: float) -> None:
        """Log the count of a second that is over (the worker calls this at every step)."""
        log_overflow(logger, "task.succeeded", self._budget.due(now))

    def flush(self) -> None:
        """Log the count so far (at a stop)."""
        log_overflow(logger, "task.succeeded", self._budget.drain())


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


class TextFormatter(logging.Formatter):
    """``time level logger message``; the time's text is made once per second, not per line."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")
        self._second: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        second, text = self._second
        if int(record.created) != second:
            second = int(record.created)
            text = time.strftime("%Y-%m-%d %H:%M:%S", self.converter(second))
            self._second = (second, text)  # one assignment: threads see a consistent pair
        return f"{text},{int(record.msecs):03d}"


def formatter(fmt: str = "text") -> logging.Formatter:
    """The formatter of ``text`` or ``json`` lines, for a handler set up elsewhere."""
    return JsonFormatter() if fmt == "json" else TextFormatter()


def configure(fmt: str = "text", level: int = logging.INFO) -> None:
    """Send logs to stderr in ``text`` or ``json`` format (at the CLI edge only).

    Neither format shows the caller's file and line or thread and process names, so they are
    not collected (the logging HOWTO's "Optimization"): a third of each line's cost, which adds
    up at one line per finished task.
    """
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(fmt))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
