"""OpenTelemetry, opt-in: a trace started by an HTTP client reaches the handler's span in a
real worker process (producer span at the enqueue, its context stored with the task,
consumer span around the handler), and nothing imports OpenTelemetry when it is absent."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util.types import AttributeValue
from sqlalchemy import text
from sqlalchemy.engine import Engine

import api

from ..support import wait_for
from .conftest import StartWorker

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"


class _WhileActive(SpanProcessor):
    """Forwards to the in-memory exporter during this module's tests only (the tracer
    provider is process-wide and cannot be replaced)."""

    def __init__(self, inner: SpanProcessor) -> None:
        self.inner = inner
        self.active = False

    def on_end(self, span: ReadableSpan) -> None:
        if self.active:
            self.inner.on_end(span)


_EXPORTER = InMemorySpanExporter()
_FORWARD = _WhileActive(SimpleSpanProcessor(_EXPORTER))


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    if not getattr(provider, "_taskrow_test_forward", False):
        provider.add_span_processor(_FORWARD)
        provider._taskrow_test_forward = True  # type: ignore[attr-defined]
    _EXPORTER.clear()
    _FORWARD.active = True
    try:
        yield _EXPORTER
    finally:
        _FORWARD.active = False
        _EXPORTER.clear()


def worker_spans(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_a_trace_from_an_http_client_reaches_the_handlers_span_in_the_worker(
    db_url: str,
    engine: Engine,
    tmp_path: Path,
    start_worker: StartWorker,
    exported: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spans_file = tmp_path / "worker-spans.jsonl"
    monkeypatch.setenv("TASKROW_TEST_SPANS", str(spans_file))
    app = api.create_app({"TASKROW_DATABASE_URL": db_url, "TASKROW_AUTH": "off"})
    client = app.test_client()
    ids = {}
    for name in ("traced", "traced_failure"):
        answer = client.post(
            "/v1/tasks",
            json={"task": name},
            headers={"traceparent": f"00-{TRACE_ID}-{CLIENT_SPAN}-01"},
        )
        assert answer.status_code == 202
        ids[name] = answer.get_json()["id"]
    app.extensions["taskrow"].engine.dispose()
    producers = {attribute(s, "messaging.message.id"): s for s in exported.get_finished_spans()}
    producer = producers[ids["traced"]]
    assert producer.kind is trace.SpanKind.PRODUCER and producer.name == "default send"
    assert f"{producer.context.trace_id:032x}" == TRACE_ID
    assert producer.parent is not None and f"{producer.parent.span_id:016x}" == CLIENT_SPAN
    assert attribute(producer, "messaging.destination.name") == "default"
    producer_span = f"{producer.context.span_id:016x}"
    with engine.connect() as conn:
        stored = conn.execute(
            text("SELECT traceparent FROM taskrow.tasks WHERE id = :id"), {"id": ids["traced"]}
        ).scalar_one()
    assert stored == f"00-{TRACE_ID}-{producer_span}-01"

    start_worker("--app", "tests.worker.tracing_app")

    def consumers() -> dict[str, dict[str, Any]]:
        found = {
            s["attributes"].get("messaging.message.id"): s
            for s in worker_spans(spans_file)
            if s["kind"] == "SpanKind.CONSUMER"
        }
        return found if set(ids.values()) <= set(found) else {}

    consumed = wait_for(consumers, timeout=30, what="the worker's consumer spans")
    span = consumed[ids["traced"]]
    assert span["context"]["trace_id"] == "0x" + TRACE_ID
    assert span["parent_id"] == "0x" + producer_span
    assert span["name"] == "default process"
    assert span["attributes"] == {
        "messaging.system": "taskrow",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.name": "default",
        "messaging.message.id": ids["traced"],
        "taskrow.task": "traced",
        "taskrow.attempt": 1,
        "taskrow.outcome": "succeeded",
    }
    [inside] = [s for s in worker_spans(spans_file) if s["name"] == "inside the handler"]
    assert inside["parent_id"] == span["context"]["span_id"]  # current while the handler ran
    failed = consumed[ids["traced_failure"]]
    assert failed["attributes"]["taskrow.outcome"] == "failed"
    assert failed["status"]["status_code"] == "ERROR"


def test_nothing_imports_opentelemetry_when_it_is_not_installed() -> None:
    script = (
        "import sys; sys.modules['opentelemetry'] = None\n"
        "import queue_core, api, worker\n"
        "from queue_core import tracing\n"
        "assert not tracing.enabled()\n"
        "with tracing.producer(['q'], 1) as span: assert span is None\n"
        "from worker import tracing as wt\n"
        "assert wt._trace is None\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_the_process_pool_continues_the_trace_in_the_parent(
    db_url: str,
    tmp_path: Path,
    start_worker: StartWorker,
    exported: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spans_file = tmp_path / "worker-spans.jsonl"
    monkeypatch.setenv("TASKROW_TEST_SPANS", str(spans_file))
    app = api.create_app({"TASKROW_DATABASE_URL": db_url, "TASKROW_AUTH": "off"})
    answer = app.test_client().post(
        "/v1/tasks",
        json={"task": "traced"},
        headers={"traceparent": f"00-{TRACE_ID}-{CLIENT_SPAN}-01"},
    )
    app.extensions["taskrow"].engine.dispose()
    task_id = answer.get_json()["id"]
    [producer] = exported.get_finished_spans()
    start_worker("--app", "tests.worker.tracing_app", "--pool", "process", "--concurrency", "1")

    def consumer() -> list[dict[str, Any]]:
        return [
            s
            for s in worker_spans(spans_file)
            if s["kind"] == "SpanKind.CONSUMER"
            and s["attributes"].get("messaging.message.id") == task_id
        ]

    [span] = wait_for(consumer, timeout=60, what="the worker's consumer span")
    assert span["context"]["trace_id"] == "0x" + TRACE_ID
    assert span["parent_id"] == f"0x{producer.context.span_id:016x}"
    assert span["attributes"]["taskrow.outcome"] == "succeeded"


def test_queue_core_enqueue_is_a_child_of_the_callers_current_span(
    engine: Engine, exported: InMemorySpanExporter
) -> None:
    import queue_core

    tracer = trace.get_tracer("tests")
    with tracer.start_as_current_span("the app's request") as outer, engine.begin() as conn:
        task = queue_core.enqueue(conn, "t", queue="mail")
    [producer] = [s for s in exported.get_finished_spans() if s.name == "mail send"]
    assert producer.parent is not None
    assert producer.parent.span_id == outer.get_span_context().span_id
    assert attribute(producer, "messaging.message.id") == str(task.id)
    with engine.connect() as conn:
        stored = conn.execute(
            text("SELECT traceparent FROM taskrow.tasks WHERE id = :id"), {"id": task.id}
        ).scalar_one()
    made = producer.context
    assert stored == f"00-{made.trace_id:032x}-{made.span_id:016x}-{int(made.trace_flags):02x}"


def attribute(span: ReadableSpan, name: str) -> AttributeValue:
    """One attribute of a span that has attributes."""
    assert span.attributes is not None
    return span.attributes[name]
