"""Handlers for the worker's usability tests (``--app tests.worker.usability_handlers``)."""

from __future__ import annotations

import time

import sqlalchemy as sa

from worker import Registry, TaskContext

registry = Registry()


@registry.task("in_transaction", max_attempts=3)
def in_transaction(ctx: TaskContext) -> int:
    with ctx.transaction() as conn:
        return int(conn.execute(sa.text("SELECT 1")).scalar_one())


@registry.task("stuck", max_attempts=1, timeout=1)
def stuck(ctx: TaskContext) -> None:
    """Ignores its timeout (a thread cannot be killed) until the test is over."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not ctx.lease_lost:
        time.sleep(0.05)


@registry.periodic("0 0 1 1 *", "yearly", queue="reports")
def yearly(ctx: TaskContext) -> None:
    return None
