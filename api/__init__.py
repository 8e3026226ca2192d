"""taskrow HTTP API (Flask): async request-reply over the queue core.

``create_app()`` builds a ready app; ``TaskrowAPI().init_app(app)`` mounts the same API on an
existing one. The contract is docs/architecture.md ("The HTTP contract") and the committed
``api/openapi.json``.

Errors: :class:`SettingsError` for an unusable ``TASKROW_*`` setting at start; every error
while serving is an ``application/problem+json`` answer (see :mod:`api.problems`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from . import responses
from .extension import TaskrowAPI
from .request_ids import RequestIdFilter
from .settings import ApiSettings, SettingsError


def create_app(settings: ApiSettings | Mapping[str, Any] | None = None) -> Flask:
    """An app serving the API. ``settings`` may be an ApiSettings, a mapping of ``TASKROW_*``
    keys, or None to read them from the environment."""
    if settings is None:
        settings = ApiSettings.from_mapping(os.environ)
    elif not isinstance(settings, ApiSettings):
        settings = ApiSettings.from_mapping(settings)
    app = Flask(__name__)
    app.response_class = responses.Response
    app.json.sort_keys = False  # type: ignore[attr-defined]
    TaskrowAPI(settings=settings).init_app(app, problems_everywhere=True)
    return app


__all__ = ["ApiSettings", "RequestIdFilter", "SettingsError", "TaskrowAPI", "create_app"]
