"""The CONSUMER span around each handler (OpenTelemetry, opt-in: the ``otel`` extra).

It continues the trace context stored with the task at enqueue (``{queue} process``, after
OpenTelemetry's messaging conventions), with the queue, task id, task name, attempt and
outcome as attributes. In the thread pool the span is current while the handler runs, so the
handler's own spans are its children; in the process pool it is the parent's, around the
child's run. Without OpenTelemetry installed nothing here imports it and no span is made.
The spans go to the tracer provider the worker's app module sets up; while none is set up,
none is made.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from queue_core import tracing as core_tracing

from .jobs import Job
from .outcome import Failed, Outcome, Recorded

try:
    from opentelemetry import trace as _trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
except ImportError:  # the otel extra is not installed
    _trace = None  # type: ignore[assignment]


def consumer(job: Job) -> contextlib.AbstractContextManager[Any]:
    """A CONSUMER span for ``job``'s attempt (None without OpenTelemetry)."""
    tracer = None if _trace is None else core_tracing.tracer("worker")
    if tracer is None:  # not installed, or no tracer provider set up: nothing to make
        return _NO_SPAN
    return _span(tracer, job)


_NO_SPAN = contextlib.nullcontext(None)  # reusable: it holds nothing


@contextlib.contextmanager
def _span(tracer: Any, job: Job) -> Iterator[Any]:
    task = job.task
    parent = None
    if task.traceparent is not None:
        parent = TraceContextTextMapPropagator().extract({"traceparent": task.traceparent})
    attributes: dict[str, Any] = {
        "messaging.system": "taskrow",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.name": task.queue,
        "messaging.message.id": str(task.id),
        "taskrow.task": task.task,
        "taskrow.attempt": task.attempts,
    }
    with tracer.start_as_current_span(
        f"{task.queue} process",
        context=parent,
        kind=_trace.SpanKind.CONSUMER,
        attributes=attributes,
    ) as span:
        yield span


def record(span: Any, outcome: Outcome, last_attempt: bool) -> None:
    """The attempt's outcome on its span: ``taskrow.outcome``, and an error status if it failed."""
    if span is None:
        return
    if isinstance(outcome, Failed):
        retrying = outcome.retryable and not last_attempt
        span.set_attribute("taskrow.outcome", "retrying" if retrying else "failed")
        span.set_attribute("error.type", outcome.error_type)
        span.set_status(_trace.Status(_trace.StatusCode.ERROR, outcome.error_type))
    elif isinstance(outcome, Recorded):
        state = outcome.state
        span.set_attribute("taskrow.outcome", "lease_lost" if state is None else state.value)
    else:
        span.set_attribute("taskrow.outcome", "succeeded")
