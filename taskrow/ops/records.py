"""Tasks and queue stats as JSON for ``--json``: the HTTP API's records (queue_core.records).

A task is its status record as the API serves it, with these differences: every key is always
present (``result`` is ``null`` until the task succeeded), there are no ``links`` (the CLI does
not know where the API is served), and it adds what an operator sees: ``args``,
``idempotency_key``, ``tenant`` and ``worker_id``. A queue is the API's queue record.
Timestamps are RFC 3339 in UTC (``...Z``).
"""

from __future__ import annotations

import json
from typing import Any

from queue_core import QueueStats, Task, records


def task_record(task: Task) -> dict[str, Any]:
    """The status record of one task (``run_at`` is the lease expiry while it runs)."""
    record = records.status_record(task)
    return {
        **record,
        "result": record.get("result"),
        "args": task.args,
        "idempotency_key": task.idempotency_key,
        "tenant": task.tenant,
        "worker_id": task.worker_id,
    }


def stats_record(entry: QueueStats, workers: int = 0) -> dict[str, Any]:
    """One queue: its count per state (every state present), its oldest due age (seconds), the
    live workers consuming it, and whether it holds queued tasks that none consumes."""
    return records.queue_record(entry, workers)


def dumps(document: object) -> str:
    """One JSON document on one line (ASCII only, so any terminal or pipe carries it)."""
    return json.dumps(document, separators=(",", ":"))
