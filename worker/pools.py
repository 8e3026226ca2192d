"""Choosing the pool a worker runs handlers in: threads or processes for sync handlers, an
event loop (worker.aio) for ``async def`` ones, both when the registry mixes them."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from .aio import AsyncPool, MixedPool, kinds_of
from .config import WorkerConfig
from .jobs import OnDone, Pool
from .processes import ChildLimits, ProcessPool
from .registry import Registry
from .threads import ThreadPool


def make_pool(
    config: WorkerConfig,
    engine: Engine,
    on_done: OnDone,
    *,
    app: str | None,
    registry: Registry | None = None,
) -> Pool:
    """The pools ``registry``'s handlers need: sync ones run in :func:`make_sync_pool`'s pool,
    async ones on an :class:`AsyncPool`."""
    sync, async_ = (True, False) if registry is None else kinds_of(registry)
    pool = make_sync_pool(config, engine, on_done, app=app) if sync else None
    if not async_:
        assert pool is not None
        return pool
    return MixedPool(pool, AsyncPool(config.concurrency, engine, on_done, schema=config.schema))


def make_sync_pool(
    config: WorkerConfig, engine: Engine, on_done: OnDone, *, app: str | None
) -> Pool:
    """A thread pool, or a process pool whose children import ``app`` (``MODULE[:REGISTRY]``)."""
    if config.pool == "thread":
        return ThreadPool(config.concurrency, engine, on_done, schema=config.schema)
    if app is None:
        raise ValueError("the process pool needs the app (MODULE[:REGISTRY]) its children import")
    limits = ChildLimits(config.max_tasks_per_child, config.max_child_memory_mb)
    return ProcessPool(
        config.concurrency, app, engine, on_done, schema=config.schema, limits=limits
    )
