"""Back-pressure: queue depth, and the per-tenant depth limit the HTTP API enforces.

A tenant's depth limit counts that tenant's queued tasks (due or scheduled) in one queue, so one
tenant at its limit never refuses another's enqueue. :func:`reserve_depth` makes the check
exact: it takes a transaction-level advisory lock per tenant (never a session lock, so it works
behind a transaction-pooling PgBouncer) and counts after acquiring it, so concurrent enqueuers
of a tenant check one after another and each sees the rows the previous ones committed.

Errors: :class:`QueueFull` (nothing written), :class:`InvalidTaskError`, :class:`DatabaseError`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from . import sql, validation
from .db import Executor, run, run_direct
from .errors import QueueFull
from .schema import DEFAULT_SCHEMA, schema_name


@dataclasses.dataclass(frozen=True, slots=True)
class TenantLimit:
    """An operator's limit for one tenant. ``queue_depth_limit`` None: no depth limit."""

    tenant: str
    queue_depth_limit: int | None
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> TenantLimit:
        return cls(row.tenant, row.queue_depth_limit, row.updated_at)


def queue_depth(
    executor: Executor, queue: str, *, cap: int = 1_000_000, schema: str = DEFAULT_SCHEMA
) -> int:
    """How many tasks wait in ``queue`` (every tenant, due or scheduled), counted up to ``cap``."""
    params = {
        "queue": validation.queue_name(queue),
        "cap": validation.integer(cap, "cap", 1, 1_000_000_000),
    }
    return int(run(executor, sql.for_schema(schema).queue_depth, params).scalar_one())


def reserve_depth(
    executor: Executor,
    tenant: str,
    adding: Mapping[str, int],
    *,
    default_limit: int | None,
    schema: str = DEFAULT_SCHEMA,
) -> int | None:
    """Check, in the caller's transaction and before its enqueue, that adding ``adding[queue]``
    tasks to each queue keeps the tenant's queued tasks there at or under its limit (the
    tenant's own, else ``default_limit``); raise :class:`QueueFull` if not. Returns the limit
    applied (None: the tenant has none, and nothing was counted).

    The tenant's lock is held until that transaction ends, so the enqueue that follows in it
    cannot be overtaken: enqueues made this way never take a tenant's queue past its limit.
    In autocommit mode the lock would end with the statement: call this in a transaction.
    """
    stmts = sql.for_schema(schema)
    params: dict[str, Any] = {"scope": schema_name(schema), "tenant": tenant}
    lock = run_direct(executor, stmts.tenant_lock, params).rows[0]
    limit = lock.queue_depth_limit if lock.overridden else default_limit
    if limit is None:
        return None
    queues = sorted(adding)
    params.update(queues="{" + ",".join(map(validation.queue_name, queues)) + "}", cap=limit + 1)
    for row in run_direct(executor, stmts.tenant_depths, params).rows:
        if int(row.n) + adding[row.queue] > limit:
            raise QueueFull(row.queue, limit)
    return int(limit)


def set_tenant_limit(
    executor: Executor,
    tenant: str,
    *,
    queue_depth_limit: int | None,
    schema: str = DEFAULT_SCHEMA,
) -> TenantLimit:
    """Give ``tenant`` its own depth limit (None: none at all), replacing the default."""
    params = {
        "tenant": validation.queue_name(tenant, "tenant"),
        "queue_depth_limit": None
        if queue_depth_limit is None
        else validation.integer(queue_depth_limit, "queue_depth_limit", 0, 1_000_000_000),
    }
    return TenantLimit.from_row(run(executor, sql.for_schema(schema).limit_set, params).one())


def clear_tenant_limit(executor: Executor, tenant: str, *, schema: str = DEFAULT_SCHEMA) -> bool:
    """Return ``tenant`` to the default limit; False when it had no limit of its own."""
    params = {"tenant": validation.queue_name(tenant, "tenant")}
    return run(executor, sql.for_schema(schema).limit_clear, params).first() is not None


def list_tenant_limits(executor: Executor, *, schema: str = DEFAULT_SCHEMA) -> list[TenantLimit]:
    """Every tenant's own limit, by tenant name."""
    return [TenantLimit.from_row(r) for r in run(executor, sql.for_schema(schema).limit_list, {})]
