"""How values read on a page: times, ages, JSON. Exposed to the templates by the blueprint."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from queue_core import Task

NOTHING = "—"


def when(moment: datetime | None) -> str:
    """A timestamp in UTC to the second, e.g. ``2026-11-27 18:01:02 UTC``."""
    if moment is None:
        return NOTHING
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(seconds: float | None) -> str:
    """A coarse age: ``42 s``, ``3 min``, ``2 h 5 min``, ``4 d 3 h``."""
    if seconds is None:
        return NOTHING
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes, hours, days = whole // 60, whole // 3600, whole // 86400
    if whole < 3600:
        return f"{minutes} min"
    if whole < 86400:
        return f"{hours} h {minutes % 60} min"
    return f"{days} d {hours % 24} h"


def ago(moment: datetime | None) -> str:
    """How long ago (or, for a future moment, in how long), by this process's clock."""
    if moment is None:
        return ""
    seconds = (datetime.now(UTC) - moment).total_seconds()
    return f"{duration(seconds)} ago" if seconds >= 0 else f"in {duration(-seconds)}"


def pretty(value: Any) -> str:
    """JSON indented for reading; autoescaping makes it safe inside ``<pre>``."""
    if value is None:
        return NOTHING
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def percent(task: Task) -> int | None:
    """Progress in whole percent, or None when the total is unknown."""
    current, total = task.progress_current, task.progress_total
    if current is None or not total:
        return None
    return max(0, min(100, round(100 * current / total)))


def helpers() -> dict[str, Any]:
    return {"when": when, "duration": duration, "ago": ago, "pretty": pretty, "percent": percent}
