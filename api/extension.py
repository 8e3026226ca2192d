"""The Flask extension: mount the API on any app, and enqueue from the app's own views."""

from __future__ import annotations

import logging
import threading
from typing import Any

from flask import Flask, current_app, request
from flask.typing import ResponseReturnValue
from sqlalchemy.engine import Engine
from werkzeug.exceptions import HTTPException

import queue_core

from . import dashboard, meta, metrics, request_ids, tracing, views
from .problems import handle_http, handle_unexpected
from .settings import ApiSettings, SettingsError
from .state import EXTENSION_KEY, ApiState

logger = logging.getLogger(__name__)

_API_PATHS = ("/v1/", "/healthz", "/readyz", "/openapi.json", "/metrics")


class TaskrowAPI:
    """``TaskrowAPI(app)`` or ``ext.init_app(app)``: registers ``/v1`` and the health routes.

    Settings come from the app's ``TASKROW_*`` config keys unless given. ``engine`` lets an
    app share its own engine (e.g. Flask-SQLAlchemy's ``db.engine``); otherwise one is made
    from ``TASKROW_DATABASE_URL``. State lives in ``app.extensions["taskrow"]``.
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        settings: ApiSettings | None = None,
        engine: Engine | None = None,
    ) -> None:
        self._settings = settings
        self._engine = engine
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask, *, problems_everywhere: bool = False) -> None:
        """Mount the API. ``problems_everywhere`` answers every error of the app (not only the
        API's paths) as problem+json; :func:`api.create_app` sets it."""
        settings = self._settings or ApiSettings.from_mapping(app.config)
        engine = self._engine or _engine(settings)
        if not settings.auth_enabled:
            logger.warning(
                "api.auth_disabled every request acts as tenant %r with every scope",
                settings.default_tenant,
            )
        app.extensions[EXTENSION_KEY] = ApiState(
            settings, engine, threading.BoundedSemaphore(settings.max_waiting_requests)
        )
        app.register_blueprint(views.blueprint)
        app.register_blueprint(meta.blueprint)
        app.register_blueprint(dashboard.blueprint)
        metrics.init_app(app, engine, settings.schema)
        request_ids.init_app(app)
        tracing.init_app(app)
        if problems_everywhere:
            app.register_error_handler(HTTPException, handle_http)
            app.register_error_handler(Exception, handle_unexpected)
        else:
            app.register_error_handler(HTTPException, _http_on_api_paths)

    def enqueue(
        self, executor: queue_core.Executor, task: str, args: Any = None, **options: Any
    ) -> queue_core.Task:
        """Enqueue from the app's own view, inside the app's own transaction (a Connection or a
        Flask-SQLAlchemy ``db.session``): the task exists once that transaction commits.
        Without ``queue=``, ``TASKROW_TASK_ROUTES`` applies as for the HTTP API."""
        settings: ApiSettings = current_app.extensions[EXTENSION_KEY].settings
        options.setdefault("tenant", settings.default_tenant)
        if "queue" not in options and task in settings.task_routes:
            options["queue"] = settings.task_routes[task]
        return queue_core.enqueue(executor, task, args, schema=settings.schema, **options)


def _engine(settings: ApiSettings) -> Engine:
    if settings.database_url is None:
        raise SettingsError("TASKROW_DATABASE_URL (or DATABASE_URL) is not set")
    return queue_core.create_engine(
        settings.database_url,
        pool_size=settings.pool_size,
        max_overflow=settings.pool_overflow,
        application_name="taskrow-api",
        pooler=settings.pooler,
    )


def _http_on_api_paths(exc: HTTPException) -> ResponseReturnValue:
    """On a host app: problem+json for the API's paths, the app's usual answer elsewhere."""
    if request.path.startswith(_API_PATHS):
        return handle_http(exc)
    return exc
