"""Rendering: every page, its security headers, and every error as a friendly page.

Errors become HTML pages here, never a traceback (see the tree in :mod:`api.dashboard`).
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from flask import g, make_response, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

import queue_core

logger = logging.getLogger(__name__)


class DashboardError(Exception):
    """A page explaining what went wrong: ``raise DashboardError(403, "Title", "detail")``."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail


class CsrfFailed(DashboardError):
    """A form arrived without the session's CSRF token: 400, and nothing was changed."""

    def __init__(self) -> None:
        super().__init__(
            400,
            "This form has expired",
            "The form did not carry this session's security token, so nothing was changed. "
            "Go back, reload the page and try again.",
        )


class LoginRequired(Exception):
    """No live session: the guard sends the browser to the login form."""


def csp_nonce() -> str:
    """This response's nonce for the inline ``<style>`` and ``<script>`` it may carry."""
    if "dashboard_nonce" not in g:
        g.dashboard_nonce = secrets.token_urlsafe(16)
    nonce: str = g.dashboard_nonce
    return nonce


def page(template: str, status: int = 200, **context: Any) -> Response:
    """A rendered page (Jinja autoescapes every value)."""
    html = render_template(f"taskrow_dashboard/{template}", **context)
    return make_response(html, status)


def secure_headers(response: Response) -> Response:
    """No caching, no framing (the buttons cannot be clickjacked), scripts only our own."""
    nonce = csp_nonce()
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; "
        "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def error_page(status: int, title: str, detail: str) -> Response:
    return page("error.html", status, title=title, detail=detail)


def handle_dashboard_error(exc: DashboardError) -> Response:
    return error_page(exc.status, exc.title, exc.detail)


def handle_login_required(_exc: LoginRequired) -> Response:
    """To the login form, coming back here afterwards (for a page; a form goes home)."""
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    response = redirect(url_for("taskrow_dashboard.login", next=target))
    return response


def handle_core(exc: queue_core.TaskrowError) -> Response:
    """queue_core's errors in words: unknown task 404, wrong state 409, database down 503."""
    if isinstance(exc, queue_core.TaskNotFound):
        return error_page(404, "No such task", "There is no task with this id for your tenant.")
    if isinstance(exc, queue_core.InvalidTransition):
        return error_page(
            409,
            "Nothing to do",
            f"The task is {exc.state}: it cannot be {_past(exc.operation)}. Nothing was changed.",
        )
    if isinstance(exc, queue_core.InvalidTaskError):
        return error_page(400, "Invalid request", f"{exc.field}: {exc.reason}")
    if isinstance(exc, queue_core.SchemaNotMigrated):
        logger.error("dashboard.schema_not_migrated error=%s", exc)
        return error_page(503, "The database is not migrated", str(exc))
    logger.warning("dashboard.database_unavailable error=%s", exc)
    return error_page(
        503,
        "The database is unavailable",
        "The dashboard could not reach the database, or could not tell whether a change was "
        "saved. Reload the page in a few seconds to see the current state.",
    )


def handle_http(exc: HTTPException) -> Response:
    status = exc.code or 500
    return error_page(status, exc.name, exc.description or "")


def handle_unexpected(exc: Exception) -> Response:
    """Last resort: the bug is logged with its traceback; the page shows no internals."""
    if isinstance(exc, HTTPException):
        return handle_http(exc)
    logger.exception("dashboard.unexpected_error path=%s", request.path)
    return error_page(500, "Something went wrong", "An unexpected error occurred; it was logged.")


def _past(operation: str) -> str:
    return {"retry": "retried", "cancel": "cancelled"}.get(operation, operation)
