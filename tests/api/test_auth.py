"""Auth on every route of the URL map: 401 without a key, 403 without the scope, 404 across
tenants; keys are stored as hashes, revocable, and limited to their queues."""

from __future__ import annotations

import logging
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.engine import Engine
from werkzeug.test import TestResponse

import queue_core
from api import auth

from . import openapi_check
from .conftest import MakeApp, MakeKey, bearer, count_tasks

OPEN_ROUTES = {"/healthz", "/readyz", "/openapi.json"}
SCOPE_OF = {"POST": "enqueue", "GET": "read", "DELETE": "manage"}
# /metrics spans every tenant: a tenant's key with every scope is refused ("operator key").
SCOPE_OF_ENDPOINT = {"taskrow.retry_task": "manage", "taskrow_metrics.metrics": "operator"}


def api_routes(app: Flask) -> list[tuple[str, str, str]]:
    """(method, rule, endpoint) of every route of the API's blueprints, HEAD/OPTIONS aside
    (other blueprints mounted on the same app, with their own auth, are not the API's)."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] not in ("taskrow", "taskrow_meta", "taskrow_metrics"):
            continue
        assert rule.methods is not None
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((method, rule.rule, rule.endpoint))
    return found


def concrete(rule: str, task_id: str) -> str:
    return re.sub(r"<[^>]+>", task_id, rule)


def request(client: FlaskClient, method: str, path: str, headers: dict[str, str]) -> TestResponse:
    body = {"tasks": [{"task": "t"}]} if path.endswith("/batch") else {"task": "t"}
    if method == "POST" and not path.endswith("/retry"):
        return client.open(path, method=method, json=body, headers=headers)
    return client.open(path, method=method, headers=headers)


def test_the_url_map_and_the_openapi_document_hold_the_same_operations(app: Flask) -> None:
    served = {(method, re.sub(r"<([^>]+)>", r"{\1}", rule)) for method, rule, _ in api_routes(app)}
    documented = {
        (method.upper(), path)
        for path, item in openapi_check.document()["paths"].items()
        for method in item
        if method != "parameters"
    }
    assert served == documented
    assert len(served) == 12


def test_every_route_without_credentials_is_401_except_health_and_openapi(
    app: Flask, client: FlaskClient, key: str, engine: Engine
) -> None:
    task_id = str(
        client.post("/v1/tasks", json={"task": "t"}, headers=bearer(key)).get_json()["id"]
    )
    for method, rule, _ in api_routes(app):
        path = concrete(rule, task_id)
        for headers in (
            {},
            {"Authorization": "Bearer trk_0123456789abcdef_" + "x" * 43},
            {"Authorization": "Basic dXNlcjpwYXNz"},
            {"Authorization": "Bearer "},
        ):
            response = request(client, method, path, headers)
            if rule in OPEN_ROUTES:
                assert response.status_code == 200, (method, path)
                continue
            assert response.status_code == 401, (method, path, headers)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            assert response.content_type == "application/problem+json"
    assert count_tasks(engine) == 1


def test_every_route_with_a_key_lacking_the_scope_is_403(
    app: Flask, client: FlaskClient, key: str, make_key: MakeKey
) -> None:
    task_id = str(
        client.post("/v1/tasks", json={"task": "t"}, headers=bearer(key)).get_json()["id"]
    )
    checked = 0
    for method, rule, endpoint in api_routes(app):
        if rule in OPEN_ROUTES:
            continue
        needed = SCOPE_OF_ENDPOINT.get(endpoint, SCOPE_OF[method])
        others = [s for s in ("enqueue", "read", "manage") if s != needed]
        lacking = make_key(scopes=others)
        response = request(client, method, concrete(rule, task_id), bearer(lacking))
        assert response.status_code == 403, (method, rule)
        assert needed in response.get_json()["detail"]
        checked += 1
    assert checked == 9


def test_every_task_route_with_another_tenants_key_is_404(
    app: Flask, client: FlaskClient, make_key: MakeKey, engine: Engine
) -> None:
    mine, theirs = make_key(tenant="acme"), make_key(tenant="globex")
    task_id = str(
        client.post("/v1/tasks", json={"task": "t"}, headers=bearer(mine)).get_json()["id"]
    )
    for method, rule, _ in api_routes(app):
        if "<task_id>" not in rule:
            continue
        response = request(client, method, concrete(rule, task_id), bearer(theirs))
        assert response.status_code == 404, (method, rule)
    listing = client.get("/v1/tasks", headers=bearer(theirs)).get_json()
    assert listing["tasks"] == []
    assert client.get("/v1/queues", headers=bearer(theirs)).get_json()["queues"] == []
    with engine.connect() as conn:
        assert queue_core.get(conn, task_id).state == "queued"  # untouched by the other tenant


def test_a_key_limited_to_queues_may_use_only_those(
    client: FlaskClient, make_key: MakeKey, key: str
) -> None:
    limited = make_key(queues=["mail"])
    assert (
        client.post(
            "/v1/tasks", json={"task": "t", "queue": "mail"}, headers=bearer(limited)
        ).status_code
        == 202
    )
    other = client.post(
        "/v1/tasks", json={"task": "t", "queue": "billing"}, headers=bearer(limited)
    )
    assert other.status_code == 403
    billing = client.post("/v1/tasks", json={"task": "t", "queue": "billing"}, headers=bearer(key))
    assert client.get(billing.headers["Location"], headers=bearer(limited)).status_code == 404
    assert client.get("/v1/tasks?queue=billing", headers=bearer(limited)).status_code == 403
    listed = client.get("/v1/tasks", headers=bearer(limited)).get_json()["tasks"]
    assert [t["queue"] for t in listed] == ["mail"]
    queues = client.get("/v1/queues", headers=bearer(limited)).get_json()["queues"]
    assert [q["queue"] for q in queues] == ["mail"]


def test_keys_are_stored_as_hashes_and_revocation_is_immediate(
    client: FlaskClient, engine: Engine
) -> None:
    with engine.begin() as conn:
        created = queue_core.create_key(conn, tenant="acme", scopes=["read"], name="ci")
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT * FROM taskrow.api_keys")).one()
    secret = created.token.split("_", 2)[2]
    assert secret not in str(tuple(stored)) and stored.secret_hash != secret
    assert client.get("/v1/queues", headers=bearer(created.token)).status_code == 200
    with engine.begin() as conn:
        queue_core.revoke_key(conn, created.key.id)
    assert client.get("/v1/queues", headers=bearer(created.token)).status_code == 401
    tampered = created.token[:-1] + ("A" if created.token[-1] != "A" else "B")
    assert client.get("/v1/queues", headers=bearer(tampered)).status_code == 401


def test_key_inputs_are_validated(engine: Engine) -> None:
    with engine.begin() as conn:
        with pytest.raises(queue_core.InvalidTaskError, match="scopes"):
            queue_core.create_key(conn, scopes=["admin"])
        with pytest.raises(queue_core.InvalidTaskError, match="queues"):
            queue_core.create_key(conn, queues=["Bad Queue"])
        with pytest.raises(queue_core.InvalidTaskError, match="key_id"):
            queue_core.revoke_key(conn, "nope")


def test_auth_off_is_explicit_and_logged(
    make_app: MakeApp, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="api"):
        app = make_app(auth_enabled=False)
    assert any("api.auth_disabled" in r.getMessage() for r in caplog.records)
    response = app.test_client().post("/v1/tasks", json={"task": "t"})
    assert response.status_code == 202


def test_a_key_and_auth_off_make_their_principals_one_way(engine: Engine) -> None:
    with engine.begin() as conn:
        limited = queue_core.create_key(conn, tenant="acme", scopes=["read"], queues=["mail"])
        everything = queue_core.create_key(conn, tenant="acme")
        operator = queue_core.create_operator_key(conn)
    assert auth.caller_of(limited.key) == auth.Principal(
        "acme", frozenset({"read"}), frozenset({"mail"}), limited.key.id
    )
    assert auth.caller_of(everything.key) == auth.Principal.of("acme", key_id=everything.key.id)
    assert auth.Principal.of("acme").scopes == {"enqueue", "read", "manage"}  # what auth off gets
    assert auth.caller_of(operator.key) == auth.Operator(operator.key.id)


def test_a_limited_key_sending_a_queue_that_is_no_name_gets_422(
    client: FlaskClient, make_key: MakeKey, engine: Engine
) -> None:
    limited = make_key(queues=["mail"])
    for queue in ({"a": 1}, ["mail"], 7, None):
        response = client.post(
            "/v1/tasks", json={"task": "t", "queue": queue}, headers=bearer(limited)
        )
        assert response.status_code == 422, queue
    assert count_tasks(engine) == 0


def test_a_remembered_key_revoked_meanwhile_enqueues_nothing(
    client: FlaskClient, engine: Engine
) -> None:
    """The enqueue routes skip the lookup of a key they verified lately; the INSERT itself
    checks the key is still live, so revocation still takes effect at once."""
    with engine.begin() as conn:
        created = queue_core.create_key(conn, tenant="acme", scopes=["enqueue"])
    headers = bearer(created.token)
    for _ in range(2):  # verified, then remembered
        assert client.post("/v1/tasks", json={"task": "t"}, headers=headers).status_code == 202
    with engine.begin() as conn:
        queue_core.revoke_key(conn, created.key.id)
    batch = {"tasks": [{"task": "t"}, {"task": "u"}]}
    for path, body in (("/v1/tasks", {"task": "t"}), ("/v1/tasks/batch", batch)):
        response = client.post(path, json=body, headers=headers)
        assert response.status_code == 401, response.get_json()
        assert response.mimetype == "application/problem+json"
        assert "WWW-Authenticate" in response.headers
    # A replay of an idempotent request is refused too, and a bad body learns nothing.
    replay = {**headers, "Idempotency-Key": "k1"}
    assert client.post("/v1/tasks", json={"task": "t"}, headers=replay).status_code == 401
    assert client.post("/v1/tasks", json={"task": 7}, headers=headers).status_code == 401
    assert count_tasks(engine) == 2
