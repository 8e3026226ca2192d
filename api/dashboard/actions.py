"""The forms: log in, log out, retry a dead task, cancel a queued or running one.

Every POST checks the session's CSRF token first; without it the answer is a 400 page and
nothing changes. Successful actions redirect (post/redirect/get) back to a dashboard page.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import g, redirect, request, url_for
from werkzeug.wrappers import Response

import queue_core
from queue_core import TaskState

from ..state import transaction
from . import guard, session
from .blueprint import blueprint
from .pages import DashboardError, page
from .views import load_task

logger = logging.getLogger(__name__)

MAX_KEY_LENGTH = 200


@blueprint.get("/login")
def login_form() -> Response:
    """The form; it starts an anonymous session whose CSRF token protects the form itself."""
    current = guard.current_session()
    fresh = current is None
    if fresh:
        g.dashboard_session = current = session.new_session()
    response = page("login.html", next=_safe_next(request.args.get("next")), error=None)
    if fresh and current is not None:
        session.save(response, current, guard.settings(), guard.cookie_path())
    return response


@blueprint.post("/login")
def login() -> Response:
    if guard.current_session() is None:
        raise DashboardError(400, "No session cookie", _NO_COOKIE)
    guard.check_csrf()
    token = request.form.get("api_key", "").strip()[:MAX_KEY_LENGTH]
    with transaction() as conn:
        key = queue_core.authenticate(conn, token, schema=guard.settings().schema)
    if key is None:
        return _refused(401, "This API key is unknown or revoked.")
    if not guard.may_log_in(key):
        return _refused(403, "This API key lacks the manage scope the dashboard needs.")
    logger.info("dashboard.login key_id=%s tenant=%s", key.id, key.tenant or "-")
    home = url_for(".tenants") if key.operator else url_for(".queues")
    response = redirect(_safe_next(request.form.get("next")) or home)
    session.save(response, session.new_session(key.id), guard.settings(), guard.cookie_path())
    return response


@blueprint.post("/logout")
def logout() -> Response:
    guard.check_csrf()
    response = redirect(url_for(".login_form"))
    session.clear(response, guard.settings(), guard.cookie_path())
    return response


@blueprint.post("/tasks/<task_id>/retry")
def retry(task_id: str) -> Response:
    principal = guard.viewer()
    guard.check_csrf()
    with transaction() as conn:
        load_task(conn, principal, task_id)
        task = queue_core.retry(conn, task_id, tenant=principal.tenant, schema=_schema())
    logger.info("dashboard.retried task_id=%s key_id=%s", task.id, principal.key_id)
    return _back(task_id, "retried")


@blueprint.post("/tasks/<task_id>/cancel")
def cancel(task_id: str) -> Response:
    principal = guard.viewer()
    guard.check_csrf()
    with transaction() as conn:
        load_task(conn, principal, task_id)
        task = queue_core.cancel(conn, task_id, tenant=principal.tenant, schema=_schema())
    logger.info(
        "dashboard.cancelled task_id=%s state=%s key_id=%s", task.id, task.state, principal.key_id
    )
    notice = "cancelled" if task.state is TaskState.CANCELLED else "cancel_requested"
    return _back(task_id, notice)


@blueprint.post("/queues/<queue>/retry")
def retry_queue(queue: str) -> Response:
    """Re-drive every dead task of one queue (of the key's tenant)."""
    principal = guard.viewer()
    guard.check_csrf()
    if not principal.may_use(queue):
        raise DashboardError(403, "Queue not allowed", "This API key may not use that queue.")
    with transaction() as conn:
        count = queue_core.retry_queue(conn, queue, tenant=principal.tenant, schema=_schema())
    logger.info(
        "dashboard.retried_queue queue=%s count=%d key_id=%s", queue, count, principal.key_id
    )
    return redirect(url_for(".queues", retried=count, queue=queue))


_NO_COOKIE = (
    "Your browser did not send the dashboard's session cookie. Reload the login page and try "
    "again. If the dashboard is served over plain http, browsers drop its Secure cookie: "
    "serve it over https, or (for local development only) set "
    "TASKROW_DASHBOARD_SECURE_COOKIE=off."
)


def _refused(status: int, message: str) -> Response:
    logger.info("dashboard.login_refused status=%d", status)
    return page("login.html", status, next=_safe_next(request.form.get("next")), error=message)


def _back(task_id: str, notice: str) -> Response:
    """To the page the form came from when it is a dashboard page, else to the task."""
    target = _safe_next(request.form.get("next"))
    response = redirect(target or url_for(".task", task_id=task_id, notice=notice))
    return response


def _safe_next(target: str | None) -> str | None:
    """``target`` if it is a path inside the dashboard (never another site), else None."""
    if not target:
        return None
    parts = urlsplit(target)
    inside = parts.path.startswith(guard.cookie_path() + "/")
    if parts.scheme or parts.netloc or "\\" in target or not inside:
        return None
    return target


def _schema() -> str:
    return guard.settings().schema
