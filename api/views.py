"""The ``/v1`` blueprint: each view parses, calls queue_core, and serialises (the contract:
docs/architecture.md, "The HTTP contract").

Scopes: ``enqueue`` to add tasks, ``read`` to see them, ``manage`` to cancel or re-drive them.
Another tenant's task, or one on a queue the key may not use, answers 404 as if absent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy.engine import Connection

import queue_core
from queue_core import Task, TaskState
from queue_core.lines import log_overflow

from . import bodies, limits, metrics, records
from .auth import Principal, require, require_queue, revoked
from .problems import Problem, handle_core, handle_problem, handle_unexpected
from .state import autocommit, state, transaction
from .waiting import wait_for_change

logger = logging.getLogger(__name__)

blueprint = Blueprint("taskrow", __name__, url_prefix="/v1")
blueprint.register_error_handler(Problem, handle_problem)
blueprint.register_error_handler(queue_core.TaskrowError, handle_core)
blueprint.register_error_handler(Exception, handle_unexpected)

MAX_PAGE = 200
DEFAULT_PAGE = 50
MAX_IDEMPOTENCY_KEY = 200


@blueprint.post("/tasks")
def enqueue_task() -> Response:
    # One task is one INSERT statement (its idempotent replay writes nothing): autocommit
    # makes it durable at once, without a transaction around it.
    [task] = _enqueue(
        lambda: [
            bodies.new_task(
                _json_body(),
                idempotency_key=_idempotency_key(),
                routes=state().settings.task_routes,
            )
        ],
        single=True,
    )
    return _accepted(task)


@blueprint.post("/tasks/batch")
def enqueue_batch() -> Response:
    tasks = _enqueue(_batch_body)
    response = jsonify({"tasks": [records.status_record(task) for task in tasks]})
    response.status_code = 202
    response.headers["Retry-After"] = str(state().settings.poll_after)
    return _no_store(response)


def _batch_body() -> list[queue_core.NewTask]:
    body, key = _json_body(), _idempotency_key()
    items = body.get("tasks") if isinstance(body, dict) else None
    extra = sorted(set(body) - {"tasks"}) if isinstance(body, dict) else []
    if extra:
        raise bodies.invalid(extra[0][:60], "is not a known field")
    if not isinstance(items, list) or not items:
        raise bodies.invalid("tasks", "must be a non-empty array of tasks")
    if len(items) > state().settings.max_batch:
        raise bodies.invalid("tasks", f"holds at most {state().settings.max_batch} tasks")
    return [
        bodies.new_task(
            item,
            f"tasks[{i}]",
            None if key is None else bodies.batch_key(key, i),
            routes=state().settings.task_routes,
        )
        for i, item in enumerate(items)
    ]


@blueprint.get("/tasks")
def list_tasks() -> Response:
    principal = require("read")
    args = request.args
    limit = _integer_param("limit", DEFAULT_PAGE, 1, MAX_PAGE)
    cursor = args.get("cursor")
    with transaction() as conn:
        tasks = queue_core.list_tasks(
            conn,
            tenant=principal.tenant,
            queue=_listed_queue(principal, args.get("queue")),
            state=args.get("state"),
            before=None if cursor is None else records.decode_cursor(cursor),
            limit=limit,
            schema=state().settings.schema,
        )
    next_cursor = records.encode_cursor(tasks[-1]) if len(tasks) == limit else None
    response = jsonify(
        {"tasks": [records.status_record(t) for t in tasks], "next_cursor": next_cursor}
    )
    if next_cursor is not None:
        query = {**args.to_dict(), "cursor": next_cursor}
        response.headers["Link"] = f'<{_with_query(request.path, query)}>; rel="next"'
    return _no_store(response)


@blueprint.get("/tasks/<task_id>")
def get_task(task_id: str) -> Response:
    principal = require("read")
    wait = _number_param("wait", 0.0, state().settings.max_wait)
    task = wait_for_change(_load(principal, task_id), wait, lambda: _load(principal, task_id))
    return _status(task)


@blueprint.get("/tasks/<task_id>/result")
def get_result(task_id: str) -> Response:
    principal = require("read")
    task = _load(principal, task_id)
    if task.state is not TaskState.SUCCEEDED:
        raise Problem(404, f"the task has no result: it is {task.state}", state=task.state.value)
    return _no_store(jsonify(records.result_record(task)))


@blueprint.delete("/tasks/<task_id>")
def cancel_task(task_id: str) -> Response:
    principal = require("manage")
    with transaction() as conn:
        _visible(principal, _get(conn, principal, task_id))
        task = queue_core.cancel(conn, task_id, tenant=principal.tenant, schema=_schema())
    logger.info("api.cancelled task_id=%s state=%s", task.id, task.state)
    if task.state is TaskState.CANCELLED:
        return _no_store(jsonify(records.status_record(task)))
    return _accepted(task)  # running: its worker is asked to stop at its next heartbeat


@blueprint.post("/tasks/<task_id>/retry")
def retry_task(task_id: str) -> Response:
    principal = require("manage")
    with transaction() as conn:
        _visible(principal, _get(conn, principal, task_id))
        task = queue_core.retry(conn, task_id, tenant=principal.tenant, schema=_schema())
    logger.info("api.retried task_id=%s queue=%s", task.id, task.queue)
    return _accepted(task)


@blueprint.get("/queues")
def list_queues() -> Response:
    principal = require("read")
    with transaction() as conn:
        stats = queue_core.stats(conn, tenant=principal.tenant, schema=_schema())
        consumers = queue_core.queue_consumers(conn, schema=_schema())
    visible = [
        records.queue_record(s, consumers.get(s.queue, 0))
        for s in stats
        if principal.may_use(s.queue)
    ]
    return _no_store(jsonify({"queues": visible}))


def _enqueue(parse: Callable[[], list[queue_core.NewTask]], *, single: bool = False) -> list[Task]:
    """Parse the body, then authenticate and enqueue in one transaction (``single``: on one
    connection in autocommit mode, the enqueue being one statement).

    The body is read before a connection is taken (a slow client holds none), and a body
    error is raised only once the caller is known, so 401 and 403 still come first.
    """
    error: Exception | None = None
    try:
        news = parse()
    except Exception as exc:  # noqa: BLE001 - raised again below, after authentication
        news, error = [], exc
    limited = state().settings.queue_depth_limit is not None  # a tenant's lock needs a BEGIN
    with autocommit() if single and not limited else transaction() as conn:
        # A key verified lately is not looked up again: the INSERT checks it is still live.
        principal = require("enqueue", conn, remembered=True)
        if error is not None:
            require("enqueue", conn)  # a revoked key still learns nothing about its body
            raise error
        for new in news:
            require_queue(principal, new.queue)
        if limited:
            limits.reserve(conn, principal.tenant, news)
        try:
            tasks = queue_core.enqueue_many(
                conn, news, tenant=principal.tenant, schema=_schema(), key_id=principal.key_id
            )
        except queue_core.KeyRevoked:
            raise revoked() from None
    _log_enqueued(tasks)
    metrics.record_enqueued(tasks)
    return tasks


def _log_enqueued(tasks: list[Task]) -> None:
    """One ``api.enqueued`` line per task, logged once the commit returned (these tasks are
    durable), within the budget of lines a second; the tasks beyond are counted in one
    ``api.enqueued_count`` line once that second is over (at debug level, a line each)."""
    if not logger.isEnabledFor(logging.INFO):
        return
    budget = None if logger.isEnabledFor(logging.DEBUG) else state().enqueued_lines
    for task in tasks:
        if budget is not None:
            written, over = budget.admit()
            log_overflow(logger, "api.enqueued", over)
            if not written:
                continue
        logger.info("api.enqueued task_id=%s queue=%s task=%s", task.id, task.queue, task.task)


def _load(principal: Principal, task_id: str) -> Task:
    with transaction() as conn:
        return _visible(principal, _get(conn, principal, task_id))


def _get(conn: Connection, principal: Principal, task_id: str) -> Task:
    return queue_core.get(conn, task_id, tenant=principal.tenant, schema=_schema())


def _visible(principal: Principal, task: Task) -> Task:
    if not principal.may_use(task.queue):
        raise queue_core.TaskNotFound(task.id)
    return task


def _status(task: Task) -> Response:
    response = jsonify(records.status_record(task))
    if task.state is TaskState.SUCCEEDED:
        response.status_code = 303
        response.headers["Location"] = records.result_url(task)
    elif not task.state.finished:
        response.headers["Retry-After"] = str(state().settings.poll_after)
    return _no_store(response)


def _accepted(task: Task) -> Response:
    """202 with the status record, built in one go: the body encoded by the app's JSON
    provider (what ``jsonify`` would send) and the headers given with it, not set one by one."""
    url = records.task_url(task)
    return current_app.response_class(
        current_app.json.dumps(records.status_record(task, url)),
        status=202,
        headers=[
            ("Location", url),
            ("Link", f'<{url}>; rel="monitor"'),
            ("Retry-After", str(state().settings.poll_after)),
            ("Cache-Control", "no-store"),
        ],
        mimetype="application/json",
    )


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def _schema() -> str:
    return state().settings.schema


def _json_body() -> Any:
    return bodies.json_body(state().settings.max_body_bytes)


def _idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY:
        raise bodies.invalid("Idempotency-Key", f"must be 1 to {MAX_IDEMPOTENCY_KEY} characters")
    if bodies.BATCH_KEY_SEPARATOR in key:  # never over HTTP (Latin-1), but from a WSGI caller
        raise bodies.invalid("Idempotency-Key", "must not contain U+241F")
    return key


def _listed_queue(principal: Principal, queue: str | None) -> str | None:
    if queue is not None:
        require_queue(principal, queue)
        return queue
    if principal.queues is None:
        return None
    if len(principal.queues) == 1:
        return next(iter(principal.queues))
    raise bodies.invalid("queue", "is required: this API key may use only some queues")


def _integer_param(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise bodies.invalid(name, f"must be an integer from {low} to {high}")
    return int(raw)


def _number_param(name: str, low: float, high: float) -> float:
    raw = request.args.get(name)
    if raw is None:
        return low
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:  # also false for NaN
        raise bodies.invalid(name, f"must be a number of seconds from {low:g} to {high:g}")
    return value


def _with_query(path: str, query: dict[str, str]) -> str:
    return f"{path}?{urlencode(query)}"
