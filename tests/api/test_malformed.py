"""Hostile and broken input: always a 4xx problem, never a 5xx, and nothing written."""

from __future__ import annotations

import io

import pytest
from flask.testing import FlaskClient
from sqlalchemy.engine import Engine
from werkzeug.test import TestResponse

from .conftest import bearer, count_tasks

SQLISH = [
    "default'; DROP TABLE taskrow.tasks; --",
    "x' OR '1'='1",
    'default" OR 1=1 --',
    "$$; SELECT pg_sleep(10); $$",
    "queue) UNION SELECT * FROM taskrow.api_keys --",
]


def post(client: FlaskClient, key: str, data: bytes, path: str = "/v1/tasks") -> TestResponse:
    return client.post(path, data=data, headers={**bearer(key), "Content-Type": "application/json"})


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b'{"task": "t",', 400),
        (b"", 400),
        (b"\x00", 400),
        (b'{"task": "t\x00"}', 400),  # a raw NUL is a control character: not JSON
        (b'{"task": "t\\u0000"}', 422),  # an escaped NUL parses, then fails the name rule
        (b'{"task": "t", "args": {"x": "a\\u0000b"}}', 422),
        (b'{"task": "t", "args": {"a\\u0000": 1}}', 422),
        (b'{"task": "\xff\xfe"}', 400),  # invalid UTF-8
        (b'{"task": "t", "args": {"x": "\xc3\x28"}}', 400),
        (b'{"task": "t", "args": {"x": "\\ud800"}}', 422),  # a lone surrogate
        (b"[" * 10_000 + b"]" * 10_000, 400),
        (b'{"task": "t", "args": ' + b'{"a": ' * 10_000 + b"1" + b"}" * 10_001, 400),
        (b'{"task": "t", "args": ' + b'{"a": ' * 100 + b"1" + b"}" * 101, 422),
        (b'{"task": "t", "priority": NaN}', 400),
        (b'{"task": "t", "delay_seconds": Infinity}', 400),
        (b'"just a string"', 422),
        (b"[]", 422),
        (b"null", 422),
    ],
)
def test_malformed_bodies_are_4xx_and_write_nothing(
    client: FlaskClient, key: str, engine: Engine, data: bytes, status: int
) -> None:
    for path in ("/v1/tasks", "/v1/tasks/batch"):
        body = data if path == "/v1/tasks" or status == 400 else b'{"tasks": [' + data + b"]}"
        response = post(client, key, body, path)
        assert response.status_code == status, (path, response.get_json())
        assert response.content_type == "application/problem+json"
    assert count_tasks(engine) == 0


def test_a_10_mb_body_is_413_with_or_without_content_length(
    client: FlaskClient, key: str, engine: Engine
) -> None:
    big = b'{"task": "t", "args": {"x": "' + b"a" * (10 * 1024 * 1024) + b'"}}'
    assert post(client, key, big).status_code == 413
    chunked = client.post(  # a stream has no Content-Length: the body is read with a cap
        "/v1/tasks",
        input_stream=io.BytesIO(big),
        environ_overrides={"wsgi.input_terminated": True},  # as gunicorn marks chunked bodies
        headers={**bearer(key), "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
    )
    assert chunked.status_code == 413
    assert count_tasks(engine) == 0


@pytest.mark.parametrize("value", SQLISH)
def test_sql_looking_queue_names_and_filters_are_422_and_write_nothing(
    client: FlaskClient, key: str, engine: Engine, value: str
) -> None:
    enqueued = client.post("/v1/tasks", json={"task": "t", "queue": value}, headers=bearer(key))
    assert enqueued.status_code == 422 and enqueued.get_json()["errors"][0]["field"] == "queue"
    named = client.post("/v1/tasks", json={"task": value}, headers=bearer(key))
    assert named.status_code == 422
    for query in ({"queue": value}, {"state": value}, {"cursor": value}, {"limit": value}):
        listed = client.get("/v1/tasks", query_string=query, headers=bearer(key))
        assert listed.status_code == 422, query
    assert client.get(f"/v1/tasks/{value}", headers=bearer(key)).status_code == 404
    assert count_tasks(engine) == 0


def test_wrong_content_types_are_415(client: FlaskClient, key: str, engine: Engine) -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/xml"):
        response = client.post(
            "/v1/tasks",
            data=b'{"task": "t"}',
            headers={**bearer(key), "Content-Type": content_type},
        )
        assert response.status_code == 415, content_type
    missing = client.post("/v1/tasks", data=b'{"task": "t"}', headers=bearer(key))
    assert missing.status_code == 415
    assert count_tasks(engine) == 0


def test_bad_query_parameters_are_422(client: FlaskClient, key: str) -> None:
    for query in ("wait=31", "wait=-1", "wait=nan", "wait=soon"):
        response = client.get(
            f"/v1/tasks/00000000-0000-0000-0000-000000000000?{query}", headers=bearer(key)
        )
        assert response.status_code == 422, query
    for query in ("limit=0", "limit=201", "limit=%C2%B2", "limit=1.5"):
        assert client.get(f"/v1/tasks?{query}", headers=bearer(key)).status_code == 422, query
    long_key = client.post(
        "/v1/tasks", json={"task": "t"}, headers={**bearer(key), "Idempotency-Key": "k" * 201}
    )
    assert long_key.status_code == 422
