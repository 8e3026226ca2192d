"""Routes outside ``/v1`` that need no key: liveness, readiness and the OpenAPI document."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from flask import Blueprint, Response, jsonify

import queue_core
from queue_core import migrations

from .problems import Problem, handle_core, handle_problem, handle_unexpected
from .state import state

logger = logging.getLogger(__name__)

OPENAPI_PATH = Path(__file__).with_name("openapi.json")

blueprint = Blueprint("taskrow_meta", __name__)
blueprint.register_error_handler(Problem, handle_problem)
blueprint.register_error_handler(queue_core.TaskrowError, handle_core)
blueprint.register_error_handler(Exception, handle_unexpected)


@blueprint.get("/healthz")
def healthz() -> Response:
    """The process answers; says nothing about the database (that is /readyz)."""
    return _no_store(jsonify({"status": "ok"}))


@blueprint.get("/readyz")
def readyz() -> Response:
    """Ready when the database answers and its schema is at the revision this code expects."""
    settings = state().settings
    current = migrations.current_revision(state().engine, schema=settings.schema)
    expected = migrations.head_revision()
    if current != expected:
        logger.warning("api.not_ready revision=%s expected=%s", current, expected)
        detail = "never migrated" if current is None else f"at revision {current}"
        raise queue_core.SchemaNotMigrated(f"{detail}, expected {expected}", settings.schema)
    return _no_store(jsonify({"status": "ready", "revision": current}))


@blueprint.get("/openapi.json")
def openapi() -> Response:
    return Response(_openapi_document(), mimetype="application/json")


@functools.cache
def _openapi_document() -> bytes:
    return OPENAPI_PATH.read_bytes()


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response
