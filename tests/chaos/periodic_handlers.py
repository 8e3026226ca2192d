"""The chaos handlers plus one periodic schedule (``--app tests.chaos.periodic_handlers``).

``tick`` is enqueued every second by every worker that runs this app (the idempotency key of
the slot keeps one task per slot) and records its execution like ``work``.
"""

from __future__ import annotations

import os
import time
from typing import Any

from worker import TaskContext

from .handlers import GOOD_ATTEMPTS, record, registry

__all__ = ["TICK", "registry"]

TICK = "tick"


@registry.periodic("* * * * * *", TICK, max_attempts=GOOD_ATTEMPTS)
def tick(ctx: TaskContext) -> dict[str, Any]:
    started = time.time()
    time.sleep(0.05)
    record(ctx, started)
    return {"attempt": ctx.attempt, "pid": os.getpid()}
