"""A worker app that traces (``--app tests.worker.tracing_app``): the SDK's in-memory
exporter, its finished spans copied as JSON lines to the file ``TASKROW_TEST_SPANS``."""

from __future__ import annotations

import json
import os
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from worker import Fail, Registry, TaskContext

registry = Registry()
exporter = InMemorySpanExporter()


class _CopyToFile(SpanProcessor):
    """After the in-memory exporter has a span, append it to the file the test reads."""

    def on_end(self, span: ReadableSpan) -> None:
        with open(os.environ["TASKROW_TEST_SPANS"], "a", encoding="utf-8") as sink:
            sink.write(json.dumps(json.loads(span.to_json())) + "\n")


provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
provider.add_span_processor(_CopyToFile())
trace.set_tracer_provider(provider)


@registry.task("traced")
def traced(ctx: TaskContext) -> dict[str, Any]:
    with trace.get_tracer("tests").start_as_current_span("inside the handler"):
        return {"attempt": ctx.attempt}


@registry.task("traced_failure", max_attempts=1)
def traced_failure(ctx: TaskContext) -> None:
    raise Fail("no")
