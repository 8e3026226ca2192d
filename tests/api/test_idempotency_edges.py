"""Idempotency edge cases: JSON key order is not content, and a batch's keys live in a
namespace of their own (no single-task key can meet them)."""

from __future__ import annotations

import hashlib
import json

import sqlalchemy as sa
from flask.testing import FlaskClient
from sqlalchemy.engine import Engine

import queue_core
from queue_core import validation

from .conftest import bearer, count_tasks


def post(client: FlaskClient, key: str, path: str, raw: str, idem: str):  # type: ignore[no-untyped-def]
    headers = {**bearer(key), "Idempotency-Key": idem, "Content-Type": "application/json"}
    return client.post(path, data=raw.encode(), headers=headers)


def test_bodies_differing_only_in_key_order_are_the_same_request(
    client: FlaskClient, key: str, engine: Engine
) -> None:
    first = post(
        client,
        key,
        "/v1/tasks",
        '{"task": "charge", "priority": 2,'
        ' "args": {"a": 1, "b": {"x": [1, {"p": 1, "q": 2}], "y": 2}}}',
        "order-1",
    )
    again = post(
        client,
        key,
        "/v1/tasks",
        '{"args": {"b": {"y": 2, "x": [1, {"q": 2, "p": 1}]}, "a": 1},'
        ' "priority": 2, "task": "charge"}',
        "order-1",
    )
    assert first.status_code == 202, first.get_json()
    assert again.status_code == 202, again.get_json()
    assert again.get_json()["id"] == first.get_json()["id"]
    # a list's order is content: that is another request
    other = post(
        client,
        key,
        "/v1/tasks",
        '{"task": "charge", "priority": 2,'
        ' "args": {"a": 1, "b": {"x": [{"p": 1, "q": 2}, 1], "y": 2}}}',
        "order-1",
    )
    assert other.status_code == 422
    assert count_tasks(engine) == 1


def test_key_order_in_a_batch_and_from_queue_core_is_no_content_either(
    client: FlaskClient, key: str, engine: Engine
) -> None:
    one = {"tasks": [{"task": "t", "args": {"a": 1, "b": 2}}, {"task": "u"}]}
    two = {"tasks": [{"args": {"b": 2, "a": 1}, "task": "t"}, {"task": "u"}]}
    first = post(client, key, "/v1/tasks/batch", json.dumps(one), "batch-order")
    again = post(client, key, "/v1/tasks/batch", json.dumps(two), "batch-order")
    assert first.status_code == again.status_code == 202
    assert first.get_json() == again.get_json()
    with engine.begin() as conn:
        a = queue_core.enqueue(conn, "t", {"x": 1, "y": 2}, idempotency_key="core-order")
        b = queue_core.enqueue(conn, "t", {"y": 2, "x": 1}, idempotency_key="core-order")
    assert a.id == b.id


def test_a_batch_key_never_meets_a_single_task_key(
    client: FlaskClient, key: str, engine: Engine
) -> None:
    single = post(client, key, "/v1/tasks", '{"task": "single"}', "job:0")
    assert single.status_code == 202
    # the batch under key "job": its first task must not be answered with "job:0"'s task ...
    batch = post(client, key, "/v1/tasks/batch", '{"tasks": [{"task": "batched"}]}', "job")
    assert batch.status_code == 202, batch.get_json()
    [made] = batch.get_json()["tasks"]
    assert made["id"] != single.get_json()["id"] and made["task"] == "batched"
    # ... nor refused for a key it never used
    other = post(client, key, "/v1/tasks/batch", '{"tasks": [{"task": "else"}]}', "job2")
    clash = post(client, key, "/v1/tasks", '{"task": "single-2"}', "job2:0")
    assert other.status_code == clash.status_code == 202
    assert clash.get_json()["id"] != other.get_json()["tasks"][0]["id"]
    # replays still answer the same tasks
    replay = post(client, key, "/v1/tasks/batch", '{"tasks": [{"task": "batched"}]}', "job")
    assert replay.get_json()["tasks"][0]["id"] == made["id"]
    assert count_tasks(engine) == 4
    # a WSGI caller (no HTTP parser in between) cannot forge a batch key either
    forged = post(client, key, "/v1/tasks", '{"task": "forged"}', "job\u241f0")
    assert forged.status_code == 422 and count_tasks(engine) == 4


def test_a_task_fingerprinted_before_canonical_args_still_replays(engine: Engine) -> None:
    """Rows written by a release that hashed args in the order given still match a replay."""
    with engine.begin() as conn:
        task = queue_core.enqueue(conn, "t", {"b": 1, "a": 2}, idempotency_key="old-row")
    fields = {
        "task": "t",
        "args": '{"b":1,"a":2}',
        "queue": "default",
        "priority": 0,
        "run_at": None,
        "delay": None,
        "max_attempts": 3,
        "timeout_seconds": None,
    }
    legacy = hashlib.sha256(validation.fingerprint_source(fields).encode()).hexdigest()
    assert legacy != task.fingerprint  # canonical args hash otherwise
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE taskrow.tasks SET fingerprint = :f WHERE id = :id"),
            {"f": legacy, "id": task.id},
        )
    with engine.begin() as conn:
        again = queue_core.enqueue(conn, "t", {"b": 1, "a": 2}, idempotency_key="old-row")
        assert again.id == task.id
        try:
            queue_core.enqueue(conn, "t", {"b": 1, "a": 3}, idempotency_key="old-row")
        except queue_core.IdempotencyConflict:
            pass
        else:
            raise AssertionError("other content must still conflict")
