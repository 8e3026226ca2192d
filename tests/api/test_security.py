"""Secrets stay secret: no API key in any log line, keys hashed at rest, ids not guessable."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from .conftest import MakeKey, bearer, running_server


def _secret(token: str) -> str:
    return token.split("_", 2)[2]


def test_no_api_key_reaches_any_log_line(
    client: FlaskClient, make_key: MakeKey, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    good = make_key(scopes=["enqueue", "read", "manage"])
    revoked_looking = "trk_0123456789abcdef_" + "S" * 43
    posted = client.post("/v1/tasks", json={"task": "t"}, headers=bearer(good))
    location = posted.headers["Location"]
    client.get(location, headers=bearer(good))
    client.delete(location, headers=bearer(good))
    client.get("/v1/tasks", headers=bearer(revoked_looking))
    client.get("/metrics", headers=bearer(good))
    assert caplog.records, "the requests should have logged something"
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for secret in (_secret(good), _secret(revoked_looking)):
        assert secret not in logged


def test_no_api_key_in_the_servers_output(db_url: str, tmp_path: Path, make_key: MakeKey) -> None:
    token = make_key()
    with running_server(db_url, tmp_path) as http:
        assert http.post("/v1/tasks", json={"task": "t"}, headers=bearer(token)).status_code == 202
        assert http.get("/v1/tasks", headers=bearer(token + "x")).status_code == 401
    output = "\n".join(p.read_text(errors="replace") for p in tmp_path.glob("gunicorn-*.log"))
    assert "POST /v1/tasks" in output  # the access log was captured
    assert _secret(token) not in output


def test_task_ids_are_not_guessable_from_one_another(client: FlaskClient, key: str) -> None:
    """UUIDv7 (queue_core.ids): the time, then 74 random bits drawn afresh for each id, never
    a counter; access never rests on an id alone (every route matches the key's tenant)."""
    ids = [
        uuid.UUID(
            client.post("/v1/tasks", json={"task": "t"}, headers=bearer(key)).get_json()["id"]
        )
        for _ in range(50)
    ]
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in ids)
    random_bits = [((i.int >> 64) & 0xFFF) << 62 | (i.int & ((1 << 62) - 1)) for i in ids]
    assert len({bits >> 40 for bits in random_bits}) == 50  # not sequential: no shared prefixes
