"""Who is looking: the live ``manage`` key behind the session cookie, and the CSRF check.

The key is looked up by its id on every request, so a revoked key (or one that lost the
``manage`` scope) ends its dashboard sessions at once.
"""

from __future__ import annotations

import logging

from flask import g, request, url_for

from queue_core import dashboard_queries

from ..auth import Principal
from ..settings import MIN_SECRET_LENGTH as MIN_SECRET_LENGTH
from ..settings import ApiSettings
from ..state import state, transaction
from . import session
from .pages import CsrfFailed, DashboardError, LoginRequired

logger = logging.getLogger(__name__)

REQUIRED_SCOPE = "manage"


def settings() -> ApiSettings:
    return state().settings


def require_secret() -> None:
    """Every dashboard route needs a usable ``TASKROW_SECRET_KEY`` to sign its cookie."""
    secret = settings().secret_key
    if not secret or len(secret) < MIN_SECRET_LENGTH:
        raise DashboardError(
            503,
            "The dashboard is not set up",
            f"Set TASKROW_SECRET_KEY to a random value of at least {MIN_SECRET_LENGTH} "
            "characters (the same on every API process) to sign the dashboard's cookie.",
        )


def cookie_path() -> str:
    """The dashboard's own path (under the app's script root): the cookie goes nowhere else."""
    return url_for("taskrow_dashboard.queues").rstrip("/") or "/"


def current_session() -> session.Session | None:
    if "dashboard_session" not in g:
        g.dashboard_session = session.load(request, settings())
    found: session.Session | None = g.dashboard_session
    return found


def viewer() -> Principal:
    """The logged-in key as a principal (tenant, queues); else :class:`LoginRequired`."""
    current = current_session()
    if current is None or current.key_id is None:
        raise LoginRequired
    with transaction() as conn:
        key = dashboard_queries.live_key(conn, current.key_id, schema=settings().schema)
    if key is None or REQUIRED_SCOPE not in key.scopes:
        logger.info("dashboard.session_ended key_id=%s", current.key_id)
        raise LoginRequired
    queues = None if key.queues is None else frozenset(key.queues)
    return Principal(key.tenant, frozenset(key.scopes), queues, key.id)


def check_csrf() -> session.Session:
    """The session, if the posted form carries its CSRF token; else :class:`CsrfFailed`."""
    current = current_session()
    if not session.csrf_matches(current, request.form.get(session.CSRF_FIELD)):
        logger.warning("dashboard.csrf_rejected path=%s", request.path)
        raise CsrfFailed
    assert current is not None  # csrf_matches is False without a session
    return current
