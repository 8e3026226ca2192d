"""Every error answer is ``application/problem+json`` (RFC 9457), made in this one module.

::

    Problem                 raised by views: carries status, title, detail and extra members
    queue_core errors       mapped here: InvalidTaskError 422 (names the field),
                            IdempotencyConflict 422, TaskNotFound 404, InvalidTransition 409,
                            SchemaNotMigrated 503 without Retry-After (run `taskrow migrate`),
                            DatabaseError 503 + Retry-After (never 202: the outcome is unknown)
    werkzeug HTTPException  Flask's own 404, 405 (with Allow), 413 ... re-dressed as problems
    anything else           logged with its traceback, answered 500 as the last resort
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

from flask import Response, current_app, request
from werkzeug.exceptions import HTTPException

import queue_core

from . import request_ids

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
ABOUT_BLANK = "about:blank"
_HEADERS_KEPT = ("Allow", "WWW-Authenticate", "Retry-After")


class Problem(Exception):
    """An error answer raised from anywhere in a request: ``raise Problem(403, "...")``."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        **members: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title
        self.headers = headers or {}
        self.members = members


def problem_response(problem: Problem) -> Response:
    body: dict[str, Any] = {
        "type": ABOUT_BLANK,
        "title": problem.title or _reason(problem.status),
        "status": problem.status,
        "detail": problem.detail,
        "instance": request.path,
        **problem.members,
    }
    request_id = request_ids.current()
    if request_id is not None:
        body["request_id"] = request_id
    response = Response(json.dumps(body), status=problem.status, mimetype=PROBLEM_JSON)
    response.headers.update(problem.headers)
    response.headers["Cache-Control"] = "no-store"
    return response


def from_core(exc: queue_core.TaskrowError) -> Problem:
    """The answer for an error raised by queue_core."""
    if isinstance(exc, queue_core.InvalidTaskError):
        field = public_field(exc.field)
        return Problem(
            422, f"{field}: {exc.reason}", errors=[{"field": field, "detail": exc.reason}]
        )
    if isinstance(exc, queue_core.IdempotencyConflict):
        return Problem(
            422,
            "the Idempotency-Key was already used with a different request body",
            errors=[{"field": "Idempotency-Key", "detail": "reused with a different body"}],
        )
    if isinstance(exc, queue_core.TaskNotFound):
        return Problem(404, "no such task")
    if isinstance(exc, queue_core.InvalidTransition):
        return Problem(409, f"the task is {exc.state}: cannot {exc.operation} it", state=exc.state)
    if isinstance(exc, queue_core.SchemaNotMigrated):
        return not_migrated(exc)
    return unavailable(exc)


#: The problem type of a database whose taskrow tables are missing or behind the code.
SCHEMA_NOT_MIGRATED = "urn:taskrow:problem:schema-not-migrated"


def not_migrated(exc: queue_core.SchemaNotMigrated) -> Problem:
    """A setup mistake, not an outage: 503 without Retry-After (retrying cannot help)."""
    logger.error("api.schema_not_migrated error=%s", exc)
    return Problem(503, str(exc), title="Schema not migrated", type=SCHEMA_NOT_MIGRATED)


def unavailable(exc: Exception) -> Problem:
    logger.warning("api.database_unavailable error=%s", exc)
    retry_after = current_app.extensions["taskrow"].settings.unavailable_retry_after
    return Problem(
        503,
        "the database is unavailable or the outcome of the operation is unknown; retry later",
        headers={"Retry-After": str(retry_after)},
    )


def public_field(field: str) -> str:
    """queue_core's field name as the HTTP body spells it (``delay`` is ``delay_seconds``)."""
    head, dot, last = field.rpartition(".")
    if last == "delay":
        last = "delay_seconds"
    return f"{head}{dot}{last}"


def from_http(exc: HTTPException) -> Problem:
    """Flask's and werkzeug's own errors (routing 404/405, 413, 400 ...) as problems."""
    status = exc.code or 500
    kept = {k: v for k, v in exc.get_headers() if k in _HEADERS_KEPT}
    return Problem(status, exc.description or _reason(status), headers=kept)


def handle_core(exc: queue_core.TaskrowError) -> Response:
    return problem_response(from_core(exc))


def handle_problem(exc: Problem) -> Response:
    return problem_response(exc)


def handle_http(exc: HTTPException) -> Response:
    return problem_response(from_http(exc))


def handle_unexpected(exc: Exception) -> Response:
    """Last resort: the bug is logged with its traceback; the client sees no internals."""
    if isinstance(exc, HTTPException):
        return handle_http(exc)
    logger.exception("api.unexpected_error path=%s", request.path)
    return problem_response(Problem(500, "an unexpected error occurred; it has been logged"))


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
