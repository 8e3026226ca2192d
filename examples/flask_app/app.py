"""The shop: ``POST /orders`` records an order and enqueues its receipt in one transaction.

The order row and the ``send_receipt`` task commit together or not at all: if anything fails
after the enqueue (here: the payment is declined) the rollback takes the task with it, so no
receipt is ever sent for an order that does not exist, and no order is left without one.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from flask import Flask, current_app, jsonify, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import queue_core

RECEIPT_QUEUE = "emails"


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class Order(db.Model):  # type: ignore[name-defined,misc]
    """The application's own table, in the public schema, next to taskrow's schema."""

    __tablename__ = "orders"
    __table_args__ = {"schema": "public"}

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    amount_cents: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PaymentDeclined(Exception):
    """The payment provider refused the card; the order must not exist."""


def charge(order: Order, card: str) -> None:
    """Stand-in for a payment provider: the test card ``tok_declined`` is refused."""
    if card == "tok_declined":
        raise PaymentDeclined(f"card declined for order {order.id}")


def place_order(email: str, amount_cents: int, card: str, *, schema: str) -> tuple[Order, Any]:
    """Add the order and its receipt task to the current session; the caller commits.

    The enqueue comes before the charge on purpose, to show that a failure after it rolls
    the task back together with the order.
    """
    order = Order(email=email, amount_cents=amount_cents)
    db.session.add(order)
    db.session.flush()  # assigns order.id, which the task needs
    task = queue_core.enqueue(
        db.session,  # the session's transaction: nothing is visible to workers before commit
        "send_receipt",
        {"order_id": order.id},
        queue=RECEIPT_QUEUE,
        idempotency_key=f"receipt:{order.id}",
        schema=schema,
    )
    charge(order, card)
    return order, task


def create_app(database_url: str | None = None, *, schema: str | None = None) -> Flask:
    """The application. Without arguments it reads DATABASE_URL and TASKROW_SCHEMA."""
    url = database_url or os.environ.get("TASKROW_DATABASE_URL") or os.environ["DATABASE_URL"]
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = queue_core.engine_url(url)  # selects psycopg 3
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True}
    app.config["TASKROW_SCHEMA"] = schema or os.environ.get("TASKROW_SCHEMA", "taskrow")
    db.init_app(app)
    with app.app_context():
        db.create_all()  # the orders table; taskrow's own tables come from `taskrow migrate`
    app.add_url_rule("/orders", view_func=create_order, methods=["POST"])
    app.register_error_handler(PaymentDeclined, payment_declined)
    app.register_error_handler(queue_core.InvalidTaskError, invalid)
    app.register_error_handler(queue_core.DatabaseUnavailable, unavailable)
    return app


def create_order() -> tuple[Any, int]:
    """Parse, place the order, commit once; answer with the order and its receipt task."""
    body = request.get_json(silent=True) or {}
    email, amount, card = body.get("email"), body.get("amount_cents"), body.get("card", "tok_visa")
    if not isinstance(email, str) or not isinstance(amount, int) or not isinstance(card, str):
        return jsonify(error="give email (string), amount_cents (integer) and card"), 400
    order, task = place_order(email, amount, card, schema=current_app.config["TASKROW_SCHEMA"])
    with queue_core.translate_errors():  # a lost connection during commit: outcome unknown
        db.session.commit()
    return jsonify(order_id=order.id, receipt_task=str(task.id)), 201


def payment_declined(exc: PaymentDeclined) -> tuple[Any, int]:
    db.session.rollback()  # the order and the receipt task disappear together
    return jsonify(error=str(exc)), 402


def invalid(exc: queue_core.InvalidTaskError) -> tuple[Any, int]:
    db.session.rollback()
    return jsonify(error=str(exc)), 422


def unavailable(exc: queue_core.DatabaseUnavailable) -> tuple[Any, int]:
    db.session.rollback()
    return jsonify(error="database unavailable, try again"), 503
