"""Trace context carried by tasks: opt-in OpenTelemetry (the ``otel`` extra).

Without OpenTelemetry installed nothing here imports it, and :func:`producer` yields None.
With it and a tracer provider set up (the SDK's), each enqueue runs in a PRODUCER span
(``{queue} send``, after OpenTelemetry's messaging conventions), a child of the caller's
current span, and its W3C ``traceparent`` is stored with each task (the ``traceparent``
column) for the worker's CONSUMER span to continue. With no provider set up no span is made,
and the caller's current span context (if any) is stored as it is.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

try:
    from opentelemetry import trace as _trace
    from opentelemetry.trace import ProxyTracerProvider as _Unconfigured
except ImportError:  # the otel extra is not installed: tasks carry no trace context
    _trace = None  # type: ignore[assignment]

SYSTEM = "taskrow"
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


def enabled() -> bool:
    return _trace is not None


def tracer(name: str) -> Any:
    """The configured provider's tracer ``name``, made once per provider; None while no
    tracer provider is set up (then no span is made: a span costs tens of microseconds)."""
    if _trace is None:
        return None
    provider = _trace.get_tracer_provider()
    if isinstance(provider, _Unconfigured):
        return None
    found = _TRACERS.get(name)
    if found is None or found[0] is not provider:
        found = _TRACERS[name] = (provider, provider.get_tracer(name))
    return found[1]


_TRACERS: dict[str, tuple[Any, Any]] = {}


@contextlib.contextmanager
def producer(queues: list[str], count: int) -> Iterator[Any]:
    """A PRODUCER span around one enqueue of ``count`` tasks (None without OpenTelemetry)."""
    if _trace is None:
        yield None
        return
    made = tracer("queue_core")
    if made is None:  # no SDK set up: store the caller's own context, if it has one
        yield _trace.get_current_span()
        return
    queue = queues[0] if len(queues) == 1 else "(several)"
    attributes: dict[str, Any] = {
        "messaging.system": SYSTEM,
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
        "messaging.destination.name": queue,
    }
    if count > 1:
        attributes["messaging.batch.message_count"] = count
    with made.start_as_current_span(
        f"{queue} send", kind=_trace.SpanKind.PRODUCER, attributes=attributes
    ) as span:
        yield span


def traceparent(span: Any) -> str | None:
    """The W3C ``traceparent`` of ``span`` (None when it is invalid or absent)."""
    if span is None:
        return None
    context = span.get_span_context()
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def parse(value: str | None) -> tuple[int, int, int] | None:
    """(trace id, span id, flags) of a well-formed ``traceparent``, else None."""
    match = None if value is None else _TRACEPARENT.fullmatch(value)
    if match is None:
        return None
    trace_id, span_id, flags = (int(part, 16) for part in match.groups())
    return None if trace_id == 0 or span_id == 0 else (trace_id, span_id, flags)
