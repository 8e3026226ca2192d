"""What this worker tells others about itself: the queues it consumes and its task names (a row
refreshed while it runs, so stats, the dashboard and /metrics can flag a queue nobody
consumes), and the start-up warnings about a configuration that would leave tasks waiting."""

from __future__ import annotations

import logging
import time

from sqlalchemy.engine import Engine

import queue_core
from queue_core import DatabaseError

from .config import WorkerConfig
from .registry import Registry

logger = logging.getLogger(__name__)


class Announcer:
    """Refreshes this worker's row every ``queue_core.ANNOUNCE_INTERVAL`` seconds."""

    def __init__(self, registry: Registry, config: WorkerConfig) -> None:
        self._registry = registry
        self._config = config
        self._next = 0.0

    def tick(self, engine: Engine) -> None:
        """Announce when due; raises DatabaseError (the loop's backoff handles it)."""
        now = time.monotonic()
        if now < self._next:
            return
        with queue_core.transaction(engine) as conn:
            queue_core.announce_worker(
                conn,
                self._config.worker_id,
                self._config.queues,
                self._registry.tasks,
                schema=self._config.schema,
            )
        self._next = now + queue_core.ANNOUNCE_INTERVAL

    def retire(self, engine: Engine) -> None:
        """Delete the row at a clean stop (best effort: a stale row stops counting anyway)."""
        try:
            with queue_core.transaction(engine) as conn:
                queue_core.retire_worker(conn, self._config.worker_id, schema=self._config.schema)
        except DatabaseError as exc:
            worker_id = self._config.worker_id
            logger.warning("worker.retire_failed worker_id=%s error=%s", worker_id, exc)


def warn_unconsumed_schedules(registry: Registry, config: WorkerConfig) -> None:
    """A periodic schedule whose task goes to a queue this worker does not consume piles up
    unless another worker consumes it: say so at start."""
    if config.burst:
        return  # schedules do not run in burst mode
    for spec in registry.periodic_specs:
        task = registry.tasks.get(spec.task)
        if task is not None and task.queue not in config.queues:
            logger.warning(
                "periodic.queue_not_consumed task=%s queue=%s queues=%s: this worker enqueues "
                "the schedule's tasks but does not run them; run a worker for that queue",
                spec.task,
                task.queue,
                ",".join(config.queues),
            )
