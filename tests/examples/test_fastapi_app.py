"""The asyncio example: an order and its receipt task commit together in one async transaction,
or not at all; the status endpoint follows the task; an async handler sends the receipt."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

import queue_core
from queue_core import TaskState
from worker import Worker, WorkerConfig

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def shop(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The example package, imported from examples/ without installing it."""
    monkeypatch.syspath_prepend(str(EXAMPLES))
    return importlib.import_module("fastapi_app")


@pytest.fixture
def client(shop: ModuleType, db_url: str) -> Iterator[TestClient]:
    with TestClient(shop.create_app(db_url)) as client:  # runs the lifespan: engine, table
        yield client


def tasks(engine: Engine) -> list[queue_core.Task]:
    with engine.connect() as conn:
        return queue_core.list_tasks(conn, limit=100)


def orders(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM public.orders")).scalar_one())


def test_a_committed_order_leaves_exactly_one_task(client: TestClient, engine: Engine) -> None:
    response = client.post("/orders", json={"email": "a@example.com", "amount_cents": 1250})
    assert response.status_code == 201, response.json()
    body = response.json()
    [task] = tasks(engine)
    assert str(task.id) == body["receipt_task"]
    assert (task.task, task.queue, task.args, task.state) == (
        "send_receipt",
        "emails",
        {"order_id": body["order_id"]},
        TaskState.QUEUED,
    )
    assert orders(engine) == 1
    status = client.get(f"/orders/{body['order_id']}")
    assert status.status_code == 200
    assert status.json()["receipt"]["state"] == "queued"


def test_a_declined_order_leaves_no_task(client: TestClient, engine: Engine) -> None:
    declined = {"email": "b@example.com", "amount_cents": 990, "card": "tok_declined"}
    response = client.post("/orders", json=declined)
    assert response.status_code == 402
    assert response.json() == {"error": "card declined for order 1"}
    assert tasks(engine) == [] and orders(engine) == 0
    assert client.get("/orders/1").status_code == 404


def test_bad_input_is_refused_and_writes_nothing(client: TestClient, engine: Engine) -> None:
    response = client.post("/orders", json={"email": "c@example.com", "amount_cents": "lots"})
    assert response.status_code == 422
    assert tasks(engine) == [] and orders(engine) == 0


def test_an_async_worker_sends_the_receipt_and_the_status_shows_it(
    client: TestClient, shop: ModuleType, engine: Engine
) -> None:
    registry = importlib.import_module("fastapi_app.tasks").registry
    response = client.post("/orders", json={"email": "d@example.com", "amount_cents": 700})
    order_id = response.json()["order_id"]
    config = WorkerConfig(queues=("emails",), concurrency=1, listen=False, burst=True)
    assert Worker(registry, engine, config).run_once() == 1
    receipt = client.get(f"/orders/{order_id}").json()["receipt"]
    assert (receipt["state"], receipt["attempts"]) == ("succeeded", 1), receipt
    sent = {"order_id": order_id, "sent_to": "d@example.com", "amount_cents": 700}
    assert receipt["result"] == sent
