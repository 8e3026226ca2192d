"""Async enqueue inside the caller's transaction: psycopg's AsyncConnection, SQLAlchemy's
AsyncConnection and AsyncSession; the same validation, idempotency and errors as the sync API."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

import queue_core
from queue_core import (
    DatabaseError,
    IdempotencyConflict,
    InvalidTaskError,
    NewTask,
    TaskNotFound,
    TaskState,
)

from .helpers import count_tasks, get

T = TypeVar("T")


def run(db_url: str, body: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """Run ``body`` with an async engine on the test database, disposed afterwards."""

    async def main() -> T:
        engine = queue_core.create_async_engine(db_url)
        try:
            return await body(engine)
        finally:
            await engine.dispose()

    return asyncio.run(main())


@pytest.fixture
def orders(engine: Engine) -> Engine:
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE public.orders (id int PRIMARY KEY)"))
    return engine


def order_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM public.orders")).scalar_one())


def test_sqlalchemy_async_connection_commits_the_task_with_the_callers_row(
    orders: Engine, db_url: str
) -> None:
    async def body(engine: AsyncEngine) -> queue_core.Task:
        async with engine.begin() as conn:
            await conn.execute(sa.text("INSERT INTO public.orders VALUES (1)"))
            return await queue_core.aenqueue(
                conn, "send_receipt", {"order_id": 1}, queue="emails", priority=3
            )

    task = run(db_url, body)
    stored = get(orders, task.id)
    assert stored == task
    assert (stored.state, stored.queue, stored.priority, stored.args) == (
        TaskState.QUEUED,
        "emails",
        3,
        {"order_id": 1},
    )
    assert order_count(orders) == 1


def test_a_rolled_back_async_transaction_takes_the_task_with_it(
    orders: Engine, db_url: str
) -> None:
    async def body(engine: AsyncEngine) -> None:
        async with engine.begin() as conn:
            await conn.execute(sa.text("INSERT INTO public.orders VALUES (1)"))
            await queue_core.aenqueue(conn, "send_receipt", {"order_id": 1})
            raise RuntimeError("payment declined")

    with pytest.raises(RuntimeError, match="payment declined"):
        run(db_url, body)
    assert (count_tasks(orders), order_count(orders)) == (0, 0)


def test_async_session_enqueues_in_its_transaction(orders: Engine, db_url: str) -> None:
    async def body(engine: AsyncEngine) -> list[queue_core.Task]:
        async with AsyncSession(engine) as session, session.begin():
            await session.execute(sa.text("INSERT INTO public.orders VALUES (7)"))
            return await queue_core.aenqueue_many(
                session, [NewTask("a", {"i": 1}), NewTask("b", {"i": 2}, queue="q2")]
            )

    tasks = run(db_url, body)
    assert [(t.task, t.queue) for t in tasks] == [("a", "default"), ("b", "q2")]
    assert count_tasks(orders) == 2 and order_count(orders) == 1


def test_psycopg_async_connection_and_aget(engine: Engine, db_url: str) -> None:
    async def body() -> tuple[queue_core.Task, queue_core.Task]:
        async with await psycopg.AsyncConnection.connect(db_url) as conn:
            task = await queue_core.aenqueue(conn, "t", {"x": 1}, idempotency_key="k")
            await conn.commit()
            return task, await queue_core.aget(conn, task.id)

    task, fetched = asyncio.run(body())
    assert fetched == task == get(engine, task.id)


def test_idempotency_and_typed_errors_match_the_sync_api(engine: Engine, db_url: str) -> None:
    async def body(engine_: AsyncEngine) -> dict[str, Any]:
        found: dict[str, Any] = {}
        async with engine_.begin() as conn:
            first = await queue_core.aenqueue(conn, "t", {"n": 1}, idempotency_key="key")
        async with engine_.begin() as conn:
            found["again"] = await queue_core.aenqueue(conn, "t", {"n": 1}, idempotency_key="key")
        found["first"] = first
        calls: dict[str, Callable[[AsyncConnection], Awaitable[object]]] = {
            "conflict": lambda c: queue_core.aenqueue(c, "t", {"n": 2}, idempotency_key="key"),
            "invalid": lambda c: queue_core.aenqueue(c, "t", {"n": 1}, max_attempts=0),
            "missing": lambda c: queue_core.aget(c, first.id, tenant="someone-else"),
        }
        for name, call in calls.items():
            try:
                async with engine_.begin() as conn:
                    await call(conn)
            except Exception as exc:
                found[name] = exc
        return found

    found = run(db_url, body)
    assert found["again"] == found["first"]
    assert isinstance(found["conflict"], IdempotencyConflict)
    assert isinstance(found["invalid"], InvalidTaskError) and "max_attempts" in str(
        found["invalid"]
    )
    assert isinstance(found["missing"], TaskNotFound)
    assert count_tasks(engine) == 1


def test_a_sync_connection_is_refused_with_a_typed_error(db_url: str) -> None:
    with psycopg.connect(db_url) as conn, pytest.raises(DatabaseError, match="AsyncConnection"):
        asyncio.run(queue_core.aenqueue(conn, "t"))  # type: ignore[arg-type]


def test_a_connection_outside_any_transaction_gets_one_that_its_commit_ends(
    engine: Engine, db_url: str
) -> None:
    async def body(engine_: AsyncEngine) -> queue_core.Task:
        async with engine_.connect() as conn:  # no begin(): aenqueue begins, as SQLAlchemy would
            task = await queue_core.aenqueue(conn, "t")
            await conn.commit()
            return task

    assert get(engine, run(db_url, body).id).state is TaskState.QUEUED


@pytest.mark.parametrize(
    ("sync", "async_"),
    [
        (queue_core.enqueue, queue_core.aenqueue),
        (queue_core.enqueue_many, queue_core.aenqueue_many),
        (queue_core.get, queue_core.aget),
        (queue_core.progress, queue_core.aprogress),
        (queue_core.complete_many, queue_core.acomplete_many),
    ],
)
def test_each_async_twin_takes_the_sync_functions_parameters(sync: Any, async_: Any) -> None:
    def shape(fn: Any) -> list[tuple[str, object, object]]:
        return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]

    assert inspect.iscoroutinefunction(async_)
    assert shape(async_) == shape(sync)


def test_atransaction_commits_rolls_back_and_translates(orders: Engine, db_url: str) -> None:
    async def body(engine: AsyncEngine) -> None:
        async with queue_core.atransaction(engine) as conn:
            await conn.execute(sa.text("INSERT INTO public.orders VALUES (1)"))
            await queue_core.aenqueue(conn, "kept")
        with pytest.raises(RuntimeError):
            async with queue_core.atransaction(engine) as conn:
                await conn.execute(sa.text("INSERT INTO public.orders VALUES (2)"))
                raise RuntimeError("the caller's own failure")
        with pytest.raises(DatabaseError, match="duplicate key"):
            async with queue_core.atransaction(engine) as conn:
                await conn.execute(sa.text("INSERT INTO public.orders VALUES (1)"))

    run(db_url, body)
    assert order_count(orders) == 1 and count_tasks(orders, "task = 'kept'") == 1
    nowhere = "postgresql://nobody@127.0.0.1:1/none"

    async def unreachable(engine: AsyncEngine) -> None:
        with pytest.raises(queue_core.DatabaseUnavailable):
            async with queue_core.atransaction(engine):
                pytest.fail("connected to nothing")

    run(nowhere, unreachable)
