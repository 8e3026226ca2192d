"""The pages: queues, a list of tasks (the dead ones by default from the menu), one task.

Each view parses, asks queue_core for the logged-in key's tenant only, and renders.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from flask import request
from werkzeug.wrappers import Response

import queue_core
from queue_core import Task, TaskState, dashboard_queries, records

from ..auth import Principal
from ..state import transaction
from . import guard, overview
from .blueprint import blueprint
from .pages import DashboardError, page

PAGE_SIZE = 50
REFRESH_SECONDS = 5
NOTICES = {
    "retried": "The task was re-driven: it is queued again with its attempts reset.",
    "cancelled": "The task was cancelled.",
    "cancel_requested": "Cancellation requested: the worker stops it at its next heartbeat.",
}


@blueprint.get("/")
def queues() -> Response:
    principal = guard.viewer()
    schema = guard.settings().schema
    with transaction() as conn:
        stats = queue_core.stats(conn, tenant=principal.tenant, schema=schema)
        recent = dashboard_queries.throughput(conn, tenant=principal.tenant, schema=schema)
        consumers = queue_core.queue_consumers(conn, schema=schema)
    rows = overview.rows(principal, stats, recent)
    return page(
        "queues.html",
        principal=principal,
        notice=_retried_notice(),
        rows=rows,
        unserved=overview.unserved(rows, consumers),
        totals=overview.totals(rows),
        states=overview.STATES,
        refresh=REFRESH_SECONDS,
    )


@blueprint.get("/tasks")
def tasks() -> Response:
    principal = guard.viewer()
    state, queue = _state_param(), _queue_param(principal)
    with transaction() as conn:
        found = queue_core.list_tasks(
            conn,
            tenant=principal.tenant,
            queue=queue,
            state=state,
            before=_before_param(),
            limit=PAGE_SIZE,
            schema=guard.settings().schema,
        )
    older = records.encode_cursor(found[-1]) if len(found) == PAGE_SIZE else None
    return page(
        "tasks.html",
        principal=principal,
        tasks=[t for t in found if principal.may_use(t.queue)],
        state=state,
        queue=queue,
        states=overview.STATES,
        older=older,
        refresh=REFRESH_SECONDS,
    )


@blueprint.get("/tasks/<task_id>")
def task(task_id: str) -> Response:
    principal = guard.viewer()
    with transaction() as conn:
        found = load_task(conn, principal, task_id)
    return page(
        "task.html",
        principal=principal,
        task=found,
        notice=NOTICES.get(request.args.get("notice", "")),
        refresh=None if found.state.finished else REFRESH_SECONDS,
    )


@blueprint.route("/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def not_found(rest: str) -> Response:
    """Any other path under the dashboard: a page, not the API's problem+json."""
    raise DashboardError(404, "Page not found", "There is no dashboard page at this address.")


def load_task(conn: queue_core.Executor, principal: Principal, task_id: str) -> Task:
    """The tenant's task, as absent (TaskNotFound) when on a queue the key may not use."""
    found = queue_core.get(conn, task_id, tenant=principal.tenant, schema=guard.settings().schema)
    if not principal.may_use(found.queue):
        raise queue_core.TaskNotFound(found.id)
    return found


def _retried_notice() -> str | None:
    count, queue = request.args.get("retried", type=int), request.args.get("queue")
    if count is None or not queue:
        return None
    return f"{count} dead task{'' if count == 1 else 's'} of queue {queue} queued again."


def _state_param() -> TaskState | None:
    raw = request.args.get("state") or None
    if raw is None:
        return None
    try:
        return TaskState(raw)
    except ValueError as exc:
        raise DashboardError(400, "Unknown state", "Choose one of the listed states.") from exc


def _queue_param(principal: Principal) -> str | None:
    queue = request.args.get("queue") or None
    if queue is not None and not principal.may_use(queue):
        raise DashboardError(403, "Queue not allowed", "This API key may not see that queue.")
    return queue


def _before_param() -> tuple[datetime, uuid.UUID] | None:
    """Where the previous page ended: queue_core's cursor, the API's and the CLI's format."""
    raw = request.args.get("before")
    if not raw:
        return None
    try:
        return records.decode_cursor(raw)
    except queue_core.InvalidTaskError as exc:
        raise DashboardError(400, "Bad page link", "Go back to the first page.") from exc
