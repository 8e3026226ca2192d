"""The dashboard's blueprint, its hooks and its error pages; routes live in views and actions."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint
from flask.blueprints import BlueprintSetupState
from werkzeug.exceptions import HTTPException

import queue_core

from ..settings import ApiSettings, SettingsError
from ..state import EXTENSION_KEY
from . import formatting, guard, pages, session

logger = logging.getLogger(__name__)

blueprint = Blueprint(
    "taskrow_dashboard", __name__, url_prefix="/dashboard", template_folder="templates"
)
blueprint.before_request(guard.require_secret)
blueprint.after_request(pages.secure_headers)
blueprint.register_error_handler(pages.DashboardError, pages.handle_dashboard_error)
blueprint.register_error_handler(pages.LoginRequired, pages.handle_login_required)
blueprint.register_error_handler(queue_core.TaskrowError, pages.handle_core)
blueprint.register_error_handler(HTTPException, pages.handle_http)
blueprint.register_error_handler(Exception, pages.handle_unexpected)


@blueprint.context_processor
def _template_helpers() -> dict[str, Any]:
    """Formatting helpers, the CSP nonce, and the session's CSRF token for every form."""
    return {
        **formatting.helpers(),
        "csp_nonce": pages.csp_nonce,
        "csrf_field": session.CSRF_FIELD,
        "csrf_token": _csrf_token,
        "finished_states": [state.value for state in queue_core.FINISHED_STATES_IN_ORDER],
    }


def _csrf_token() -> str:
    current = guard.current_session()
    return "" if current is None else current.csrf


@blueprint.record_once
def _check_settings(setup: BlueprintSetupState) -> None:
    """At mount: a too-short secret is a SettingsError; a missing one disables the pages."""
    settings: ApiSettings = setup.app.extensions[EXTENSION_KEY].settings
    secret = settings.secret_key
    if not secret:
        logger.warning("dashboard.disabled TASKROW_SECRET_KEY is not set: /dashboard answers 503")
    elif len(secret) < guard.MIN_SECRET_LENGTH:
        raise SettingsError(
            f"TASKROW_SECRET_KEY: must be at least {guard.MIN_SECRET_LENGTH} characters"
        )
    if not settings.dashboard_secure_cookie:
        logger.warning(
            "dashboard.insecure_cookie the session cookie is not Secure: local development only"
        )
