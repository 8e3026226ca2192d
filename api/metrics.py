"""Prometheus metrics of the API at ``/metrics`` (text format), for an operator key only.

Every figure here spans all tenants, so a tenant's key (whatever its scopes) is answered 403:
only an operator key (``taskrow keys create --admin``) may scrape it.

- ``taskrow_queue_tasks{queue,state}``, ``taskrow_queue_oldest_due_age_seconds{queue}`` and
  ``taskrow_queue_workers{queue}`` (live workers consuming it): read from the database at each
  scrape (every tenant: the figures are the operator's).
- ``taskrow_api_enqueued_tasks_total{queue}``: tasks accepted (counted after the commit).
- ``taskrow_api_request_duration_seconds{route,method,status}``: a histogram per route
  template (``/v1/tasks/<task_id>``, never the raw path, so ids do not explode the series).

Under gunicorn, ``taskrow api`` sets ``PROMETHEUS_MULTIPROC_DIR`` before any worker starts,
so every scrape sums the counters of all worker processes.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine

import queue_core
from queue_core import Task

from .auth import require_operator
from .problems import Problem, handle_core, handle_problem, handle_unexpected

logger = logging.getLogger(__name__)

REGISTRY_KEY = "taskrow_metrics"

# Created without a registry: each app registers them in its own (tests build many apps).
REQUESTS = Histogram(
    "taskrow_api_request_duration_seconds",
    "HTTP requests by route template, method and status.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=None,
)
ENQUEUED = Counter(
    "taskrow_api_enqueued_tasks",
    "Tasks accepted (202) by the API, counted after their commit.",
    ["queue"],
    registry=None,
)

blueprint = Blueprint("taskrow_metrics", __name__)
blueprint.register_error_handler(Problem, handle_problem)
blueprint.register_error_handler(queue_core.TaskrowError, handle_core)
blueprint.register_error_handler(Exception, handle_unexpected)


class QueueCollector(Collector):
    """Queue depth per state, oldest due age, consumers and NOTIFY queue usage, read when
    scraped."""

    def __init__(self, engine: Engine, schema: str) -> None:
        self._engine = engine
        self._schema = schema

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with queue_core.connection(self._engine) as conn:
            stats = queue_core.stats(conn, schema=self._schema)
            consumers = queue_core.queue_consumers(conn, schema=self._schema)
            notify_usage = queue_core.notify_queue_usage(conn)
        tasks = GaugeMetricFamily(
            "taskrow_queue_tasks", "Tasks per queue and state.", labels=["queue", "state"]
        )
        age = GaugeMetricFamily(
            "taskrow_queue_oldest_due_age_seconds",
            "How long the oldest due task of each queue has waited (0 when none is due).",
            labels=["queue"],
        )
        workers = GaugeMetricFamily(
            "taskrow_queue_workers",
            "Live workers consuming each queue (0 with queued tasks: nothing will run them).",
            labels=["queue"],
        )
        for entry in stats:
            for task_state, count in entry.counts.items():
                tasks.add_metric([entry.queue, task_state.value], count)
            age.add_metric([entry.queue], entry.oldest_due_age or 0.0)
        for queue in sorted({entry.queue for entry in stats} | set(consumers)):
            workers.add_metric([queue], consumers.get(queue, 0))
        usage = GaugeMetricFamily(
            "taskrow_notify_queue_usage_ratio",
            "Fraction (0 to 1) of the cluster's NOTIFY queue in use (pg_notification_queue_usage).",
            value=notify_usage,
        )
        yield tasks
        yield age
        yield workers
        yield usage


def init_app(app: Flask, engine: Engine, schema: str) -> None:
    """Register /metrics, time every request, and build this app's registry."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(REQUESTS)
        registry.register(ENQUEUED)
    registry.register(QueueCollector(engine, schema))
    app.extensions[REGISTRY_KEY] = registry
    app.before_request(_start_timer)
    app.after_request(_observe)
    app.register_blueprint(blueprint)


# Each labelled child once made, by its label values: ``labels()`` validates and locks at
# every call, which is per-request work for the same few children.
_enqueued: dict[str, Any] = {}
_requests: dict[tuple[str, str, int], Any] = {}


def record_enqueued(tasks: list[Task]) -> None:
    """Count accepted tasks. Runs after the commit, so it must never fail the request: a
    metrics store that went missing costs a log line, not a 500 for a task that exists."""
    try:
        for task in tasks:
            child = _enqueued.get(task.queue)
            if child is None:
                child = _enqueued.setdefault(task.queue, ENQUEUED.labels(queue=task.queue))
            child.inc()
    except OSError as exc:
        logger.warning("api.metrics_failed error=%s", exc)


@blueprint.get("/metrics")
def metrics() -> Response:
    require_operator()
    registry: CollectorRegistry = current_app.extensions[REGISTRY_KEY]
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def _start_timer() -> None:
    g.taskrow_started = time.perf_counter()


def _observe(response: Response) -> Response:
    started = g.get("taskrow_started")
    if started is None:
        return response
    route = request.url_rule.rule if request.url_rule is not None else "unmatched"
    labels = (route, request.method, response.status_code)
    try:
        child = _requests.get(labels)
        if child is None:
            made = REQUESTS.labels(route=route, method=labels[1], status=str(labels[2]))
            child = _requests.setdefault(labels, made)
        child.observe(time.perf_counter() - started)
    except OSError as exc:  # as in record_enqueued: the answer stands
        logger.warning("api.metrics_failed error=%s", exc)
    return response
