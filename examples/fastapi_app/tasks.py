"""The worker side: the ``send_receipt`` handler, an ``async def`` one, run by
``taskrow worker --app fastapi_app.tasks`` on the worker's event loop.

It may run more than once for one order (at-least-once delivery), so sending is keyed by the
order id: a real mail provider would be given ``receipt:<order id>`` as its idempotency key.
"""

from __future__ import annotations

import logging
from typing import Any

from worker import AsyncTaskContext, Fail, Registry

from .app import RECEIPT_QUEUE, orders

logger = logging.getLogger(__name__)
registry = Registry()


@registry.task("send_receipt", queue=RECEIPT_QUEUE)
async def send_receipt(ctx: AsyncTaskContext, order_id: int) -> dict[str, Any]:
    """Look the order up and "send" its receipt (logged here); the result names the recipient."""
    async with ctx.transaction() as conn:  # commits with the task's completion
        row = (await conn.execute(orders.select().where(orders.c.id == order_id))).first()
    if row is None:
        raise Fail(f"order {order_id} does not exist")
    logger.info("receipt.sent task_id=%s order_id=%s to=%s", ctx.task_id, order_id, row.email)
    return {"order_id": order_id, "sent_to": row.email, "amount_cents": row.amount_cents}
