"""The shop: ``POST /orders`` records an order and enqueues its receipt in one async transaction;
``GET /orders/{id}`` answers the order with the state of its receipt task.

The order row and the ``send_receipt`` task commit together or not at all: if anything fails
after the enqueue (here: the payment is declined) the rollback takes the task with it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

import queue_core

RECEIPT_QUEUE = "emails"

metadata = sa.MetaData()
#: The application's own table, in the public schema, next to taskrow's schema.
orders = sa.Table(
    "orders",
    metadata,
    sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("amount_cents", sa.Integer, nullable=False),
    sa.Column("receipt_task", sa.Uuid, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
    schema="public",
)


class NewOrder(BaseModel):
    email: str = Field(max_length=320)
    amount_cents: int = Field(ge=0)
    card: str = "tok_visa"


class PaymentDeclined(Exception):
    """The payment provider refused the card; the order must not exist."""


async def charge(order_id: int, card: str) -> None:
    """Stand-in for a payment provider: the test card ``tok_declined`` is refused."""
    if card == "tok_declined":
        raise PaymentDeclined(f"card declined for order {order_id}")


async def place_order(
    conn: AsyncConnection, new: NewOrder, *, schema: str
) -> tuple[int, queue_core.Task]:
    """Add the order and its receipt task in ``conn``'s transaction; the caller commits.

    The enqueue comes before the charge on purpose, to show that a failure after it rolls
    the task back together with the order.
    """
    insert = orders.insert().values(email=new.email, amount_cents=new.amount_cents)
    order_id = (await conn.execute(insert.returning(orders.c.id))).scalar_one()
    task = await queue_core.aenqueue(
        conn,  # the caller's transaction: nothing is visible to workers before commit
        "send_receipt",
        {"order_id": order_id},
        queue=RECEIPT_QUEUE,
        idempotency_key=f"receipt:{order_id}",
        schema=schema,
    )
    await conn.execute(orders.update().where(orders.c.id == order_id).values(receipt_task=task.id))
    await charge(order_id, new.card)
    return order_id, task


def create_app(database_url: str | None = None, *, schema: str | None = None) -> FastAPI:
    """The application. Without arguments it reads DATABASE_URL and TASKROW_SCHEMA."""
    url = database_url or os.environ.get("TASKROW_DATABASE_URL") or os.environ["DATABASE_URL"]
    taskrow_schema = schema or os.environ.get("TASKROW_SCHEMA", "taskrow")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = queue_core.create_async_engine(url)  # psycopg 3, as queue_core needs
        async with engine.begin() as conn:  # the orders table; taskrow's: `taskrow migrate`
            await conn.run_sync(metadata.create_all)
        app.state.engine = engine
        yield
        await engine.dispose()

    app = FastAPI(title="shop", lifespan=lifespan)

    @app.post("/orders", status_code=201)
    async def create_order(new: NewOrder, request: Request) -> dict[str, Any]:
        engine: AsyncEngine = request.app.state.engine
        with queue_core.translate_errors():  # a lost connection at commit: outcome unknown
            async with engine.begin() as conn:  # commits here, or rolls back on any exception
                order_id, task = await place_order(conn, new, schema=taskrow_schema)
        return {"order_id": order_id, "receipt_task": str(task.id)}

    @app.get("/orders/{order_id}")
    async def order_status(order_id: int, request: Request) -> dict[str, Any]:
        engine: AsyncEngine = request.app.state.engine
        async with engine.connect() as conn:
            row = (await conn.execute(orders.select().where(orders.c.id == order_id))).first()
            if row is None:
                raise HTTPException(404, f"no order {order_id}")
            task = await queue_core.aget(conn, row.receipt_task, schema=taskrow_schema)
        return {"order_id": order_id, "email": row.email, "receipt": _receipt(task)}

    app.add_exception_handler(PaymentDeclined, _error(402))
    app.add_exception_handler(queue_core.InvalidTaskError, _error(422))
    app.add_exception_handler(queue_core.DatabaseUnavailable, _error(503))
    return app


def _receipt(task: queue_core.Task) -> dict[str, Any]:
    return {
        "task": str(task.id),
        "state": task.state,
        "attempts": task.attempts,
        "result": task.result,
        "error": task.error_message,
    }


def _error(status: int) -> Any:
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        text = "database unavailable, try again" if status == 503 else str(exc)
        return JSONResponse({"error": text}, status_code=status)

    return handle
