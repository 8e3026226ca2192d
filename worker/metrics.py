"""Prometheus metrics of one worker process (``taskrow worker --metrics-port P``).

Counted from the task transitions the worker logs, so a metric and a log line never disagree:

- ``taskrow_worker_tasks_total{task, event}``: transitions (claimed, succeeded, retrying, dead,
  cancelled, lease_lost, discarded, released, timed_out, cancel_requested)
- ``taskrow_worker_task_duration_seconds{task}``: run time of the attempts that left this worker
- ``taskrow_worker_tasks_in_flight``: attempts claimed and not yet recorded
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from queue_core import Lease

from .jobs import Job
from .logs import observe

_ENDED = {
    "task.succeeded",
    "task.retrying",
    "task.dead",
    "task.cancelled",
    "task.lease_lost",
    "task.discarded",
    "task.released",
}


class Metrics:
    """The worker's collectors, in their own registry; :meth:`serve` exposes them over HTTP."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.transitions = Counter(
            "taskrow_worker_tasks",
            "Task transitions seen by this worker.",
            ["task", "event"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "taskrow_worker_task_duration_seconds",
            "Run time of the attempts this worker recorded.",
            ["task"],
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "taskrow_worker_tasks_in_flight",
            "Attempts claimed by this worker and not yet recorded.",
            registry=self.registry,
        )
        self._held: set[Lease] = set()
        observe(self.record)

    def record(self, event: str, job: Job) -> None:
        """Count one transition (called for every ``task.*`` log line)."""
        self.transitions.labels(job.task.task, event.removeprefix("task.")).inc()
        if event == "task.claimed":
            self._held.add(job.lease)
        elif event in _ENDED and job.lease in self._held:
            self._held.discard(job.lease)  # a lost lease may be logged twice: count it once
            self.duration.labels(job.task.task).observe(job.elapsed())
        self.in_flight.set(len(self._held))

    def serve(self, port: int, address: str = "127.0.0.1") -> None:
        """Serve ``/metrics`` on ``address:port`` from a daemon thread (``taskrow worker
        --metrics-host``; give ``0.0.0.0`` to be scraped from other hosts)."""
        start_http_server(port, addr=address, registry=self.registry)
