"""Reads that back-pressure decisions need (the HTTP API's per-queue depth limit)."""

from __future__ import annotations

import functools

from sqlalchemy import TextClause, text

from . import validation
from .db import Executor, run
from .schema import DEFAULT_SCHEMA, schema_name

# Counts a queue's queued tasks, but stops at :cap rows so the check costs the same on a queue
# ten times over its limit; it reads the claim index (queued and running rows only).
_QUEUE_DEPTH = """
SELECT count(*) AS n FROM (
    SELECT 1 FROM {s}.tasks WHERE queue = :queue AND state = 'queued' LIMIT :cap
) AS capped
"""


@functools.cache
def _statement(schema: str) -> TextClause:
    return text(_QUEUE_DEPTH.format(s='"' + schema_name(schema) + '"'))


def queue_depth(
    executor: Executor, queue: str, *, cap: int = 1_000_000, schema: str = DEFAULT_SCHEMA
) -> int:
    """How many tasks wait in ``queue`` (every tenant, due or scheduled), counted up to ``cap``."""
    params = {
        "queue": validation.queue_name(queue),
        "cap": validation.integer(cap, "cap", 1, 1_000_000_000),
    }
    return int(run(executor, _statement(schema), params).scalar_one())
