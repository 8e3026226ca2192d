"""The async door: enqueue and read from asyncio applications, inside the caller's transaction.

Each function here drives the very steps its sync twin drives (:mod:`queue_core.steps`): the
same validation, statements, idempotency and typed errors; only the I/O call is awaited. An
executor is psycopg's ``AsyncConnection`` or SQLAlchemy's ``AsyncConnection`` /
``AsyncSession`` on the psycopg driver (``postgresql+psycopg://``, as
:func:`create_async_engine` makes). Nothing here commits: the caller owns the transaction.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg.rows import namedtuple_row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.ext.asyncio import create_async_engine as _sa_create_async_engine

from .admin import get_steps
from .db import (
    _TUPLES_OK,
    Fetched,
    Pooler,
    _connect_args,
    _pyformat,
    engine_url,
    translate_errors,
)
from .enqueue import DEFAULT_MAX_ATTEMPTS, DEFAULT_QUEUE, DEFAULT_TENANT, NewTask, enqueue_steps
from .errors import DatabaseError
from .leases import complete_steps, progress_steps
from .models import JSON, Lease, Task, TaskId
from .schema import DEFAULT_SCHEMA
from .steps import Steps, T

#: What the async functions accept. The caller owns the transaction: nothing here commits.
AsyncExecutor = psycopg.AsyncConnection[Any] | AsyncConnection | AsyncSession


def create_async_engine(
    url: str,
    *,
    pool_size: int = 5,
    max_overflow: int = 10,
    pool_timeout: float = 2.0,
    connect_timeout: int = 2,
    application_name: str = "taskrow",
    pooler: Pooler = "none",
) -> AsyncEngine:
    """:func:`queue_core.create_engine`'s async twin: psycopg 3, the same libpq settings (and
    the same ``pooler`` switch)."""
    parsed = engine_url(url)
    return _sa_create_async_engine(
        parsed,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        pool_pre_ping=True,
        connect_args=_connect_args(parsed, connect_timeout, application_name, pooler),
    )


async def aenqueue(
    executor: AsyncExecutor,
    task: str,
    args: dict[str, JSON] | None = None,
    *,
    queue: str = DEFAULT_QUEUE,
    priority: int = 0,
    run_at: datetime | None = None,
    delay: float | timedelta | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    timeout_seconds: int | None = None,
    idempotency_key: str | None = None,
    tenant: str = DEFAULT_TENANT,
    schema: str = DEFAULT_SCHEMA,
) -> Task:
    """:func:`queue_core.enqueue` on an async connection: the task exists once that commits."""
    new = NewTask(
        task=task,
        args={} if args is None else args,
        queue=queue,
        priority=priority,
        run_at=run_at,
        delay=delay,
        max_attempts=max_attempts,
        timeout_seconds=timeout_seconds,
        idempotency_key=idempotency_key,
    )
    return (await aenqueue_many(executor, [new], tenant=tenant, schema=schema))[0]


async def aenqueue_many(
    executor: AsyncExecutor,
    tasks: Sequence[NewTask],
    *,
    tenant: str = DEFAULT_TENANT,
    schema: str = DEFAULT_SCHEMA,
    key_id: str | None = None,
) -> list[Task]:
    """:func:`queue_core.enqueue_many` on an async connection."""
    return await adrive(executor, enqueue_steps(tasks, tenant=tenant, schema=schema, key_id=key_id))


async def aget(
    executor: AsyncExecutor,
    task_id: uuid.UUID | str,
    *,
    tenant: str | None = None,
    schema: str = DEFAULT_SCHEMA,
) -> Task:
    """:func:`queue_core.get` on an async connection."""
    return await adrive(executor, get_steps(task_id, tenant=tenant, schema=schema))


async def aprogress(
    executor: AsyncExecutor,
    lease: Lease,
    current: int | None,
    total: int | None = None,
    message: str | None = None,
    *,
    schema: str = DEFAULT_SCHEMA,
) -> bool:
    """:func:`queue_core.progress` on an async connection."""
    return await adrive(executor, progress_steps(lease, current, total, message, schema=schema))


async def acomplete_many(
    executor: AsyncExecutor,
    outcomes: Sequence[tuple[Lease, JSON]],
    *,
    durable: bool = True,
    schema: str = DEFAULT_SCHEMA,
) -> set[TaskId]:
    """:func:`queue_core.complete_many` on an async connection."""
    return await adrive(executor, complete_steps(outcomes, durable=durable, schema=schema))


async def adrive(executor: AsyncExecutor, steps: Steps[T]) -> T:
    """:func:`queue_core.steps.drive` for an async executor."""
    try:
        query = next(steps)
        while True:
            query = steps.send(await arun_direct(executor, *query))
    except StopIteration as done:
        result: T = done.value
        return result


@contextlib.asynccontextmanager
async def atransaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """:func:`queue_core.transaction` for an async engine: a connection in one transaction,
    committed when the block ends (rolled back if it raises), connecting, every statement and
    the commit translated into queue_core's errors."""
    with translate_errors():
        async with engine.begin() as conn:
            yield conn


async def arun_direct(
    executor: AsyncExecutor, statement: sa.TextClause, params: Mapping[str, Any]
) -> Fetched:
    """:func:`queue_core.db.run_direct` for an async executor: psycopg runs the statement on the
    caller's connection, in its transaction (begun here if none is)."""
    with translate_errors():
        sa_conn = await _connection(executor)
        driver = executor if sa_conn is None else await _driver(sa_conn)
        if not isinstance(driver, psycopg.AsyncConnection):
            raise DatabaseError(
                "the async API takes psycopg's AsyncConnection, or SQLAlchemy's AsyncConnection"
                f" or AsyncSession on the psycopg driver; not {type(executor).__name__}"
            )
        try:
            async with driver.cursor(row_factory=namedtuple_row) as cursor:
                await cursor.execute(_pyformat(statement), params)
                result = cursor.pgresult
                ok = result is not None and result.status == _TUPLES_OK
                rows = await cursor.fetchall() if ok else []
                return Fetched(rows, cursor.rowcount)
        except psycopg.Error:
            if driver.broken and sa_conn is not None:
                await sa_conn.invalidate()  # not back to the pool
            raise


async def _connection(executor: object) -> AsyncConnection | None:
    """SQLAlchemy's connection behind ``executor``, in a transaction; None for a bare driver."""
    if isinstance(executor, AsyncSession):
        return await executor.connection()
    if isinstance(executor, AsyncConnection):
        if not executor.in_transaction():
            await executor.begin()
        return executor
    return None


async def _driver(conn: AsyncConnection) -> object:
    raw = await conn.get_raw_connection()
    driver: object = raw.driver_connection
    if not isinstance(driver, psycopg.AsyncConnection):
        dialect = conn.dialect
        raise DatabaseError(
            "queue_core needs SQLAlchemy's psycopg (3) driver (postgresql+psycopg://), "
            f"not {dialect.name}+{dialect.driver}"
        )
    return driver
