"""Every limit docs/api.md's *Limits* section states, checked at its boundary with the default
settings: the last value accepted and the first one refused, with its status."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

import api
from taskrow.embedded import free_port

from .conftest import CheckedClient, bearer, settings_for

MIB = 1024 * 1024


def post(
    client: FlaskClient, key: str, body: Any, path: str = "/v1/tasks", **headers: str
) -> TestResponse:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {**bearer(key), "Content-Type": "application/json", **headers}
    return client.post(path, data=data, headers=headers)


def padded(size: int) -> bytes:
    """A valid enqueue body of exactly ``size`` bytes."""
    head, tail = b'{"task": "t", "args": {"pad": "', b'"}}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


def nested(depth: int) -> dict[str, Any]:
    """``depth`` objects, each inside the last (the outermost is the args object itself)."""
    value: dict[str, Any] | int = 1
    for _ in range(depth):
        value = {"a": value}
    assert isinstance(value, dict)
    return value


def test_body_size_limit_is_one_mib(client: FlaskClient, key: str) -> None:
    assert post(client, key, padded(MIB)).status_code == 202
    assert post(client, key, padded(MIB + 1)).status_code == 413


def test_a_batch_holds_at_most_1000_tasks(client: FlaskClient, key: str) -> None:
    ok = post(client, key, {"tasks": [{"task": "t"}] * 1000}, "/v1/tasks/batch")
    assert ok.status_code == 202 and len(ok.get_json()["tasks"]) == 1000
    refused = post(client, key, {"tasks": [{"task": "t"}] * 1001}, "/v1/tasks/batch")
    assert refused.status_code == 422 and refused.get_json()["errors"][0]["field"] == "tasks"


def test_a_page_lists_at_most_200_tasks(client: FlaskClient, key: str) -> None:
    assert client.get("/v1/tasks?limit=200", headers=bearer(key)).status_code == 200
    refused = client.get("/v1/tasks?limit=201", headers=bearer(key))
    assert refused.status_code == 422 and refused.get_json()["errors"][0]["field"] == "limit"


def test_a_long_poll_waits_at_most_30_seconds(client: FlaskClient, key: str) -> None:
    task_id = post(client, key, {"task": "t", "queue": "w"}).get_json()["id"]
    assert client.get(f"/v1/tasks/{task_id}?wait=0", headers=bearer(key)).status_code == 200
    refused = client.get(f"/v1/tasks/{task_id}?wait=30.5", headers=bearer(key))
    assert refused.status_code == 422 and refused.get_json()["errors"][0]["field"] == "wait"


def test_args_nest_at_most_64_levels(client: FlaskClient, key: str) -> None:
    assert post(client, key, {"task": "t", "args": nested(64)}).status_code == 202
    refused = post(client, key, {"task": "t", "args": nested(65)})
    assert refused.status_code == 422 and refused.get_json()["errors"][0]["field"] == "args"
    too_deep_to_parse = b'{"task": "t", "args": ' + b'{"a": ' * 10_000 + b"1" + b"}" * 10_001
    assert post(client, key, too_deep_to_parse).status_code == 400


def test_an_idempotency_key_has_at_most_200_characters(client: FlaskClient, key: str) -> None:
    assert post(client, key, {"task": "t"}, **{"Idempotency-Key": "k" * 200}).status_code == 202
    refused = post(client, key, {"task": "t"}, **{"Idempotency-Key": "k" * 201})
    assert refused.status_code == 422
    assert refused.get_json()["errors"][0]["field"] == "Idempotency-Key"


@pytest.mark.parametrize(
    ("field", "last_ok", "first_refused"),
    [
        ("task", "T" * 128, "T" * 129),
        ("queue", "q" * 64, "q" * 65),
        ("priority", 32767, 32768),
        ("priority", -32768, -32769),
        ("max_attempts", 1000, 1001),
        ("max_attempts", 1, 0),
        ("timeout_seconds", 7 * 86400, 7 * 86400 + 1),
        ("delay_seconds", 10 * 365 * 86400, 10 * 365 * 86400 + 1),
    ],
)
def test_field_ranges(
    client: FlaskClient, key: str, field: str, last_ok: object, first_refused: object
) -> None:
    assert post(client, key, {"task": "t", field: last_ok}).status_code == 202
    refused = post(client, key, {"task": "t", field: first_refused})
    assert refused.status_code == 422 and refused.get_json()["errors"][0]["field"] == field


def test_retry_after_is_1_on_202_and_2_on_503(client: FlaskClient, key: str) -> None:
    assert post(client, key, {"task": "t"}).headers["Retry-After"] == "1"
    unreachable = f"postgresql://nobody@127.0.0.1:{free_port()}/none"
    app: Flask = api.create_app(settings_for(unreachable, auth_enabled=False))
    app.test_client_class = CheckedClient
    try:
        down = app.test_client().post("/v1/tasks", json={"task": "t"})
    finally:
        app.extensions["taskrow"].engine.dispose()
    assert down.status_code == 503 and down.headers["Retry-After"] == "2"


def test_retry_after_is_5_on_429(make_app: Any, key: str) -> None:
    client = make_app(queue_depth_limit=1).test_client()
    assert post(client, key, {"task": "t"}).status_code == 202
    refused = post(client, key, {"task": "t"})
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "5"


def test_the_documented_defaults_are_the_settings_defaults() -> None:
    defaults = api.ApiSettings.from_mapping({})
    assert (defaults.max_body_bytes, defaults.max_batch, defaults.max_wait) == (MIB, 1000, 30.0)
    assert (defaults.poll_after, defaults.busy_retry_after) == (1, 5)
    assert (defaults.unavailable_retry_after, defaults.max_waiting_requests) == (2, 8)
