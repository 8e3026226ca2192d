"""One execution model for the sync and the async API: a function's logic as steps.

A function that needs the database is written once as a generator that yields each query
(statement, params) and receives what :func:`queue_core.db.run_direct` fetched for it: the
validation, the statements and the mapping of rows to results live in that generator alone.
:func:`drive` runs it on a sync connection; ``queue_core.aio`` drives the same generator on an
async one. Only the I/O call differs.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any, TypeVar

import sqlalchemy as sa

from .db import Executor, Fetched, run_direct

T = TypeVar("T")
Query = tuple[sa.TextClause, Mapping[str, Any]]
Steps = Generator[Query, Fetched, T]


def drive(executor: Executor, steps: Steps[T]) -> T:
    """Run every query of ``steps`` on ``executor`` (the caller's transaction); its result."""
    try:
        query = next(steps)
        while True:
            query = steps.send(run_direct(executor, *query))
    except StopIteration as done:
        result: T = done.value
        return result
