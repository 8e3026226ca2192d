"""The enqueuing request's trace context (OpenTelemetry, opt-in: the ``otel`` extra).

A request's W3C ``traceparent`` header becomes the current context while it is served, so
queue_core's PRODUCER span around its enqueue is the caller's child and each task stores that
span's context for the worker to continue. Without OpenTelemetry installed this module
imports nothing of it and registers nothing.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, g, request

try:
    from opentelemetry import context as _context
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
except ImportError:  # the otel extra is not installed
    _context = None  # type: ignore[assignment]


def init_app(app: Flask) -> None:
    if _context is None:
        return
    app.before_request(_attach)
    app.teardown_request(_detach)


def _attach() -> None:
    if "traceparent" not in request.headers:
        return
    carrier = {"traceparent": request.headers["traceparent"]}
    if "tracestate" in request.headers:
        carrier["tracestate"] = request.headers["tracestate"]
    extracted = TraceContextTextMapPropagator().extract(carrier)
    g.taskrow_trace_token = _context.attach(extracted)


def _detach(_: BaseException | None) -> Any:
    token = g.pop("taskrow_trace_token", None)
    if token is not None:
        _context.detach(token)
