"""The worker side: the ``send_receipt`` handler, run by ``taskrow worker --app flask_app.tasks``.

It runs in a worker process, not in the web app, and may run more than once for one order
(at-least-once delivery), so sending is keyed by the order id: a real mail provider would be
given ``receipt:<order id>`` as its own idempotency key.
"""

from __future__ import annotations

import logging
from typing import Any

from worker import Fail, Registry, TaskContext

from .app import RECEIPT_QUEUE, Order

logger = logging.getLogger(__name__)
registry = Registry()


@registry.task("send_receipt", queue=RECEIPT_QUEUE)
def send_receipt(ctx: TaskContext, order_id: int) -> dict[str, Any]:
    """Look the order up and "send" its receipt (logged here); the result names the recipient."""
    with ctx.transaction() as conn:
        row = conn.execute(Order.__table__.select().where(Order.id == order_id)).first()
    if row is None:
        raise Fail(f"order {order_id} does not exist")
    logger.info("receipt.sent task_id=%s order_id=%s to=%s", ctx.task_id, order_id, row.email)
    return {"order_id": order_id, "sent_to": row.email, "amount_cents": row.amount_cents}
