"""The per-tenant queue depth limit of the enqueue routes (429 + ``Retry-After``).

``TASKROW_QUEUE_DEPTH_LIMIT`` is every tenant's default; an operator may give a tenant its own
(``taskrow limits set``). A tenant's limit counts only its own queued tasks, and the check and
the insert run in one transaction under the tenant's lock (:func:`queue_core.reserve_depth`),
so concurrent enqueues never take a tenant past its limit.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

from sqlalchemy.engine import Connection

import queue_core

from .problems import Problem
from .state import state

logger = logging.getLogger(__name__)


def reserve(conn: Connection, tenant: str, news: Sequence[queue_core.NewTask]) -> None:
    """429 unless the tenant's queues have room for ``news``; call it in the enqueue's own
    transaction, just before the insert."""
    settings = state().settings
    adding = Counter(n.queue for n in news)
    try:
        queue_core.reserve_depth(
            conn, tenant, adding, default_limit=settings.queue_depth_limit, schema=settings.schema
        )
    except queue_core.InvalidTaskError:
        return  # a queue name is invalid: the insert refuses it, naming the field (422)
    except queue_core.QueueFull as exc:
        logger.info("api.queue_full tenant=%s queue=%s limit=%d", tenant, exc.queue, exc.limit)
        raise Problem(
            429,
            f"queue {exc.queue!r} holds {exc.limit} or more waiting tasks of this tenant; "
            "retry later",
            headers={"Retry-After": str(settings.busy_retry_after)},
        ) from None
