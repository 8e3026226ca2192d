"""The embedding example: an order and its receipt task commit together, or not at all."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

import queue_core
from queue_core import TaskState
from worker import Worker, WorkerConfig

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def shop(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The example package, imported from examples/ without installing it."""
    monkeypatch.syspath_prepend(str(EXAMPLES))
    return importlib.import_module("flask_app")


@pytest.fixture
def app(shop: ModuleType, db_url: str) -> Iterator[Flask]:
    app = shop.create_app(db_url)
    yield app
    with app.app_context():
        shop.db.engine.dispose()


def tasks(engine: Engine) -> list[queue_core.Task]:
    with engine.connect() as conn:
        return queue_core.list_tasks(conn, limit=100)


def orders(app: Flask, shop: ModuleType) -> int:
    with app.app_context():
        return int(shop.db.session.scalar(select(func.count()).select_from(shop.Order)))


def test_a_committed_order_leaves_exactly_one_task(
    app: Flask, shop: ModuleType, engine: Engine
) -> None:
    response = app.test_client().post(
        "/orders", json={"email": "a@example.com", "amount_cents": 1250}
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    [task] = tasks(engine)
    assert str(task.id) == body["receipt_task"]
    assert (task.task, task.queue, task.args) == (
        "send_receipt",
        "emails",
        {"order_id": body["order_id"]},
    )
    assert task.state is TaskState.QUEUED
    assert orders(app, shop) == 1


def test_a_rolled_back_order_leaves_no_task(app: Flask, shop: ModuleType, engine: Engine) -> None:
    declined = {"email": "b@example.com", "amount_cents": 990, "card": "tok_declined"}
    response = app.test_client().post("/orders", json=declined)
    assert response.status_code == 402
    assert tasks(engine) == [] and orders(app, shop) == 0

    with app.app_context():  # the same path by hand: the task exists inside the transaction ...
        with pytest.raises(shop.PaymentDeclined):
            shop.place_order("c@example.com", 500, "tok_declined", schema="taskrow")
        [pending] = queue_core.list_tasks(shop.db.session)
        assert pending.task == "send_receipt"
        shop.db.session.rollback()
    assert tasks(engine) == [], "... and is gone with the rollback"
    assert orders(app, shop) == 0


def test_a_worker_sends_the_receipt(app: Flask, shop: ModuleType, engine: Engine) -> None:
    registry = importlib.import_module("flask_app.tasks").registry
    response = app.test_client().post(
        "/orders", json={"email": "d@example.com", "amount_cents": 700}
    )
    order_id = response.get_json()["order_id"]
    config = WorkerConfig(queues=("emails",), concurrency=1, listen=False, burst=True)
    assert Worker(registry, engine, config).run_once() == 1
    [task] = tasks(engine)
    assert task.state is TaskState.SUCCEEDED, (task.error_type, task.error_message)
    assert task.result == {"order_id": order_id, "sent_to": "d@example.com", "amount_cents": 700}
