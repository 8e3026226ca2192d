"""The JSON a client sees for a task (the status record), a queue and a page of tasks.

Field names of the status record are the HTTP contract (docs/architecture.md, "The HTTP
contract"): they are only added to, never renamed. Times are RFC 3339 strings in UTC. The
records and the cursor are :mod:`queue_core.records`' (the CLI's ``--json`` and the dashboard
use them too); what is the API's own is where it is served (the links).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from flask import request

import queue_core
from queue_core import Task, records
from queue_core.records import encode_cursor as encode_cursor  # the one cursor format
from queue_core.records import queue_record as queue_record  # workers, unserved: see there

from .bodies import invalid


def status_record(task: Task, url: str | None = None) -> dict[str, Any]:
    """queue_core's status record, with the links to the task (``url``, when already made) and
    its result."""
    url = task_url(task) if url is None else url
    return records.status_record(task, links={"self": url, "result": f"{url}/result"})


def result_record(task: Task) -> dict[str, Any]:
    return {
        "id": str(task.id),
        "state": task.state.value,
        "result": task.result,
        "finished_at": records.timestamp(task.finished_at),
        "links": {"self": result_url(task), "task": task_url(task)},
    }


#: Where the ``/v1`` blueprint's task routes live under the app's root; what ``url_for`` would
#: build for them (a test checks), at a fraction of its cost on every 202.
TASKS_PATH = "/v1/tasks/"


def task_url(task: Task) -> str:
    return f"{request.script_root}{TASKS_PATH}{task.id}"


def result_url(task: Task) -> str:
    return f"{request.script_root}{TASKS_PATH}{task.id}/result"


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The position a cursor names; a 422 naming ``cursor`` for anything else."""
    try:
        return records.decode_cursor(cursor)
    except queue_core.InvalidTaskError as exc:
        raise invalid("cursor", "is not a cursor this API handed out") from exc
