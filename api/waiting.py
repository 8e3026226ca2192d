"""Long polling (``GET /v1/tasks/{id}?wait=N``) without pinning a database connection.

The wait re-reads the task every ``wait_check_interval`` seconds with a connection borrowed
from the pool for that one primary-key read and returned at once, so a waiting request holds a
server thread but no connection: enqueues keep the whole pool. Tasks announce no state changes
(only enqueues NOTIFY), so there is nothing to LISTEN for; a short read is the change signal.

Threads are bounded too: at most ``max_waiting_requests`` requests of a process wait at once
(a semaphore); past that, a request is answered at once as a plain poll (it carries
``Retry-After``), so waiting clients can never take every thread from enqueues.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from queue_core import Task

from .state import state

logger = logging.getLogger(__name__)


def observable(task: Task) -> tuple[object, ...]:
    """What a client would see change: the state, the attempt and the progress."""
    return (
        task.state,
        task.attempts,
        task.cancel_requested,
        task.progress_current,
        task.progress_total,
        task.progress_message,
    )


def wait_for_change(first: Task, wait: float, load: Callable[[], Task]) -> Task:
    """``first`` or a later version that differs from it, within ``wait`` seconds."""
    if wait <= 0 or first.state.finished:
        return first
    api = state()
    if not api.waiting_slots.acquire(blocking=False):
        logger.info("api.wait_declined task_id=%s reason=too_many_waiting", first.id)
        return first
    try:
        return _poll(first, wait, api.settings.wait_check_interval, load)
    finally:
        api.waiting_slots.release()


def _poll(first: Task, wait: float, interval: float, load: Callable[[], Task]) -> Task:
    deadline = time.monotonic() + wait
    seen = observable(first)
    current = first
    while (remaining := deadline - time.monotonic()) > 0:
        time.sleep(min(interval, remaining))
        current = load()
        if observable(current) != seen:
            break
    return current
