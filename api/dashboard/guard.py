"""Who is looking: the live ``manage`` key behind the session cookie, and the CSRF check.

The key is looked up by its id on every request, so a revoked key (or one that lost the
``manage`` scope) ends its dashboard sessions at once. An operator key (no tenant) may see
only the all-tenants page (:func:`operator`); a tenant's key every page but that one.
"""

from __future__ import annotations

import logging

from flask import g, request, url_for

from queue_core import ApiKey, dashboard_queries

from ..auth import Operator, Principal, caller_of
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
    """The logged-in tenant's key as a principal (tenant, queues); else
    :class:`LoginRequired`, or a 403 page for an operator key."""
    caller = caller_of(_live_key())
    if isinstance(caller, Operator):
        logger.info("dashboard.forbidden path=%s key_id=%s", request.path, caller.key_id)
        raise DashboardError(
            403,
            "An operator key sees no tenant's tasks",
            "This key belongs to no tenant: it sees every tenant's counts on the Tenants page. "
            "A tenant's queues and tasks need a key of that tenant.",
        )
    return caller


def operator() -> Operator:
    """The logged-in operator key; else :class:`LoginRequired`, or a 403 page for a tenant's."""
    caller = caller_of(_live_key())
    if not isinstance(caller, Operator):
        logger.info("dashboard.forbidden path=%s key_id=%s", request.path, caller.key_id)
        raise DashboardError(
            403,
            "Operators only",
            "Every tenant's counts are shown only to an operator key "
            "(created with `taskrow keys create --admin`).",
        )
    return caller


def may_log_in(key: ApiKey) -> bool:
    """A tenant's key with the manage scope, or an operator key."""
    return key.operator or REQUIRED_SCOPE in key.scopes


def _live_key() -> ApiKey:
    current = current_session()
    if current is None or current.key_id is None:
        raise LoginRequired
    with transaction() as conn:
        key = dashboard_queries.live_key(conn, current.key_id, schema=settings().schema)
    if key is None or not may_log_in(key):
        logger.info("dashboard.session_ended key_id=%s", current.key_id)
        raise LoginRequired
    return key


def check_csrf() -> session.Session:
    """The session, if the posted form carries its CSRF token; else :class:`CsrfFailed`."""
    current = current_session()
    if not session.csrf_matches(current, request.form.get(session.CSRF_FIELD)):
        logger.warning("dashboard.csrf_rejected path=%s", request.path)
        raise CsrfFailed
    assert current is not None  # csrf_matches is False without a session
    return current
