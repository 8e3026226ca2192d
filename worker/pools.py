"""Choosing the pool a worker runs handlers in."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from .config import WorkerConfig
from .jobs import OnDone, Pool
from .processes import ChildLimits, ProcessPool
from .threads import ThreadPool


def make_pool(config: WorkerConfig, engine: Engine, on_done: OnDone, *, app: str | None) -> Pool:
    """A thread pool, or a process pool whose children import ``app`` (``MODULE[:REGISTRY]``)."""
    if config.pool == "thread":
        return ThreadPool(config.concurrency, engine, on_done, schema=config.schema)
    if app is None:
        raise ValueError("the process pool needs the app (MODULE[:REGISTRY]) its children import")
    limits = ChildLimits(config.max_tasks_per_child, config.max_child_memory_mb)
    return ProcessPool(
        config.concurrency, app, engine, on_done, schema=config.schema, limits=limits
    )
