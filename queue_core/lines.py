"""A budget of log lines a second, for the lines written once per task at thousands a second
(the worker's ``task.succeeded``, the API's ``api.enqueued``).

Up to ``per_second`` lines are written in each second; the ones beyond are counted, and the
count is handed back once that second is over, for one summary line (``<event>_count count=N
seconds=S``). Failures, refusals and every other line are never budgeted.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable


@dataclasses.dataclass(frozen=True, slots=True)
class Overflow:
    """The lines of a second that is over which were counted, not written."""

    count: int
    seconds: float


class LineBudget:
    """``per_second`` lines a second (None: every line); safe to share between threads."""

    def __init__(self, per_second: int | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_second = per_second
        self._clock = clock
        self._lock = threading.Lock()
        self._since = -1.0  # the second being counted: [since, since + 1)
        self._written = 0
        self._counted = 0

    def admit(self) -> tuple[bool, Overflow | None]:
        """Whether this line is written (else it is counted), and the count of a second that
        just ended, if any, to log first."""
        per_second = self.per_second
        if per_second is None:
            return True, None
        with self._lock:
            now = self._clock()
            over = self._next_second(now) if now - self._since >= 1.0 else None
            if self._written < per_second:
                self._written += 1
                return True, over
            self._counted += 1
            return False, over

    def due(self, now: float) -> Overflow | None:
        """The count of a second that is over by ``now`` (for a caller that ticks)."""
        with self._lock:
            if self._counted and now - self._since >= 1.0:
                return self._next_second(now)
            return None

    def drain(self) -> Overflow | None:
        """The count so far (at a stop)."""
        with self._lock:
            return self._next_second(self._clock()) if self._counted else None

    def _next_second(self, now: float) -> Overflow | None:
        over = Overflow(self._counted, round(now - self._since, 3)) if self._counted else None
        self._since = now
        self._written = 0
        self._counted = 0
        return over


def log_overflow(logger: logging.Logger, event: str, over: Overflow | None) -> None:
    """Log the count of a second's lines that were counted, not written, if any, as
    ``<event>_count count=N seconds=S`` (and as those fields in JSON)."""
    if over is None:
        return
    name = f"{event}_count"
    logger.info(
        "%s count=%d seconds=%.3f",
        name,
        over.count,
        over.seconds,
        extra={"fields": {"event": name, "count": over.count, "seconds": over.seconds}},
    )
