"""A worker app with one periodic task, every second (``--app tests.worker.periodic_app``)."""

from __future__ import annotations

from worker import Registry, TaskContext

registry = Registry()


@registry.periodic("* * * * * *", "tick", queue="ticks")
def tick(ctx: TaskContext) -> None:
    return None
