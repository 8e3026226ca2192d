"""Who may call what: every route of the URL map, with two tenants' data present.

``WHO`` states, for each route and method, which identity may call it: ``anyone``, a tenant's
key (``tenant``: its own data only) or an operator key (``operator``: cross-tenant figures,
no tenant's tasks). A route missing from the table fails the first test, so a new route must
say who may call it. The second test calls every route as tenant beta, with alpha's ids and
beta's own, and asserts no answer names anything of alpha's that beta did not send itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import Engine
from werkzeug.test import TestResponse

import api
import queue_core
from queue_core import Failure, Task

from .conftest import bearer, settings_for

SECRET = "isolation-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')

WHO: dict[tuple[str, str], str] = {
    ("POST", "/v1/tasks"): "tenant",
    ("POST", "/v1/tasks/batch"): "tenant",
    ("GET", "/v1/tasks"): "tenant",
    ("GET", "/v1/tasks/<task_id>"): "tenant",
    ("GET", "/v1/tasks/<task_id>/result"): "tenant",
    ("DELETE", "/v1/tasks/<task_id>"): "tenant",
    ("POST", "/v1/tasks/<task_id>/retry"): "tenant",
    ("GET", "/v1/queues"): "tenant",
    ("GET", "/metrics"): "operator",
    ("GET", "/healthz"): "anyone",
    ("GET", "/readyz"): "anyone",
    ("GET", "/openapi.json"): "anyone",
    ("GET", "/static/<path:filename>"): "anyone",
    ("GET", "/dashboard/"): "tenant",
    ("GET", "/dashboard/tasks"): "tenant",
    ("GET", "/dashboard/tasks/<task_id>"): "tenant",
    ("POST", "/dashboard/tasks/<task_id>/retry"): "tenant",
    ("POST", "/dashboard/tasks/<task_id>/cancel"): "tenant",
    ("POST", "/dashboard/queues/<queue>/retry"): "tenant",
    ("GET", "/dashboard/tenants"): "operator",
    ("GET", "/dashboard/login"): "anyone",
    ("POST", "/dashboard/login"): "anyone",
    ("POST", "/dashboard/logout"): "anyone",
    **{(m, "/dashboard/<path:rest>"): "anyone" for m in ("GET", "POST", "PUT", "PATCH", "DELETE")},
}

ALPHA, BETA = "alphacorp", "betaworks"
ALPHA_QUEUE, BETA_QUEUE = "payroll-alphacorp", "mail-betaworks"


def routes(app: Flask) -> Iterator[tuple[str, str]]:
    for rule in app.url_map.iter_rules():
        assert rule.methods is not None
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, rule.rule


@pytest.fixture
def app(db_url: str) -> Iterator[Flask]:
    made = api.create_app(settings_for(db_url, secret_key=SECRET, dashboard_secure_cookie=False))
    yield made
    made.extensions["taskrow"].engine.dispose()


class World:
    """Two tenants' tasks and keys; everything of alpha's that beta must never learn."""

    def __init__(self, engine: Engine) -> None:
        with engine.begin() as conn:
            self.alpha_key = queue_core.create_key(conn, tenant=ALPHA, name="alpha-ops-key")
            self.beta_key = queue_core.create_key(conn, tenant=BETA, name="beta-ops-key")
            self.operator_key = queue_core.create_operator_key(conn, name="the-operator")
        self.alpha = {
            "queued": self._task(engine, ALPHA, ALPHA_QUEUE, "alpha-idem-key"),
            "dead": self._dead(engine, ALPHA, ALPHA_QUEUE),
            "done": self._done(engine, ALPHA, ALPHA_QUEUE),
        }
        self.beta = {
            "queued": self._task(engine, BETA, BETA_QUEUE, None),
            "dead": self._dead(engine, BETA, BETA_QUEUE),
        }
        self.markers = {
            ALPHA,
            ALPHA_QUEUE,
            self.alpha_key.key.id,
            "alpha-ops-key",
            "alpha-idem-key",
            "alpha-args-value",
            "alpha-result-value",
            *(str(task.id) for task in self.alpha.values()),
        }

    @staticmethod
    def _task(engine: Engine, tenant: str, queue: str, key: str | None, priority: int = 0) -> Task:
        with engine.begin() as conn:
            return queue_core.enqueue(
                conn,
                "payroll.run" if tenant == ALPHA else "mail.send",
                {"v": f"{tenant[:5]}-args-value"},
                queue=queue,
                tenant=tenant,
                idempotency_key=key,
                priority=priority,
            )

    def _dead(self, engine: Engine, tenant: str, queue: str) -> Task:
        task = self._task(engine, tenant, queue, None, priority=9)
        with engine.begin() as conn:
            [claimed] = queue_core.claim(conn, [queue], 1, worker_id="w")
            assert claimed.id == task.id  # the first by priority
            queue_core.fail(
                conn, Failure(claimed.lease, "E", f"{tenant} failure", "tb", retryable=False)
            )
        return task

    def _done(self, engine: Engine, tenant: str, queue: str) -> Task:
        with engine.begin() as conn:
            task = queue_core.enqueue(conn, "payroll.close", queue="other-" + queue, tenant=tenant)
        with engine.begin() as conn:
            [claimed] = queue_core.claim(conn, ["other-" + queue], 1, worker_id="w")
            queue_core.complete(conn, claimed.lease, {"r": f"{tenant[:5]}-result-value"})
        return task


def logged_in(app: Flask, token: str) -> FlaskClient:
    client = app.test_client()
    form = client.get("/dashboard/login").text
    found = _CSRF.search(form)
    assert found is not None
    response = client.post(
        "/dashboard/login", data={"api_key": token, "csrf_token": found.group(1)}
    )
    assert response.status_code == 302, response.text
    return client


def call(client: FlaskClient, method: str, path: str, token: str) -> tuple[Any, str]:
    """The response and everything the request carried (what an answer may echo)."""
    kwargs: dict[str, Any] = {"headers": bearer(token)}
    if path.startswith("/dashboard/") and method == "POST":
        page = client.get("/dashboard/login").text
        found = _CSRF.search(page)
        kwargs["data"] = {"csrf_token": found.group(1) if found else "", "api_key": token}
    elif path == "/v1/tasks" and method == "POST":
        kwargs["json"] = {"task": "t", "queue": BETA_QUEUE}
    elif path == "/v1/tasks/batch":
        kwargs["json"] = {"tasks": [{"task": "t", "queue": BETA_QUEUE}]}
    response = client.open(path, method=method, **kwargs)
    return response, path + repr(kwargs)


def answer_text(response: TestResponse) -> str:
    return response.get_data(as_text=True) + "\n" + str(response.headers)


def concrete_paths(rule: str, task_ids: list[str], queues: list[str]) -> list[str]:
    if "<task_id>" in rule:
        return [rule.replace("<task_id>", task_id) for task_id in task_ids]
    if "<queue>" in rule:
        return [rule.replace("<queue>", queue) for queue in queues]
    return [re.sub(r"<[^>]+>", "nothing-here", rule)]


def test_every_route_states_who_may_call_it(app: Flask) -> None:
    served = set(routes(app))
    assert served - set(WHO) == set(), "a route without an entry in WHO: say who may call it"
    assert set(WHO) - served == set(), "WHO names a route that no longer exists"


def test_no_answer_to_tenant_beta_names_anything_of_alpha(app: Flask, engine: Engine) -> None:
    world = World(engine)
    beta = world.beta_key.token
    ids = [str(t.id) for t in world.alpha.values()] + [str(t.id) for t in world.beta.values()]
    checked = 0
    for method, rule in routes(app):
        who = WHO[(method, rule)]
        for path in concrete_paths(rule, ids, [ALPHA_QUEUE, BETA_QUEUE]):
            response, sent = call(logged_in(app, beta), method, path, beta)
            assert response.status_code < 500, (method, path, response.status_code)
            answer = answer_text(response)
            leaked = sorted(m for m in world.markers if m in answer and m not in sent)
            assert leaked == [], (method, path, leaked)
            if who == "operator":
                assert response.status_code == 403, (method, path)
            if who == "tenant" and any(str(t.id) in path for t in world.alpha.values()):
                assert response.status_code == 404, (method, path)
            if who == "tenant" and not path.startswith("/dashboard/"):
                assert response.status_code not in (401, 403), (method, path)
            checked += 1
    assert checked >= 40
    # beta's own figures only: its counts, its tasks
    client = app.test_client()
    queues = client.get("/v1/queues", headers=bearer(beta)).get_json()["queues"]
    assert {q["queue"] for q in queues} == {BETA_QUEUE}
    with engine.connect() as conn:
        own = {s.queue: s.counts for s in queue_core.stats(conn, tenant=BETA)}
    assert {q["queue"]: q["counts"] for q in queues} == {
        name: {state.value: n for state, n in counts.items()} for name, counts in own.items()
    }  # beta's counts, to the task
    # and nothing of alpha's changed (beta's retries and cancels of alpha's tasks were 404s)
    with engine.connect() as conn:
        states = {name: queue_core.get(conn, t.id).state.value for name, t in world.alpha.items()}
    assert states == {"queued": "queued", "dead": "dead", "done": "succeeded"}


def test_an_operator_key_sees_every_tenant_on_its_routes_and_no_tenant_route(
    app: Flask, engine: Engine
) -> None:
    world = World(engine)
    operator = world.operator_key.token
    client = app.test_client()
    metrics = client.get("/metrics", headers=bearer(operator))
    assert metrics.status_code == 200
    assert ALPHA_QUEUE in metrics.text and BETA_QUEUE in metrics.text
    dashboard = logged_in(app, operator)
    tenants = dashboard.get("/dashboard/tenants")
    assert tenants.status_code == 200
    for name in (ALPHA, BETA, ALPHA_QUEUE, BETA_QUEUE):
        assert name in tenants.text
    for name in ("alpha-args-value", "alpha-result-value", str(world.alpha["dead"].id)):
        assert name not in tenants.text  # counts only, no task of any tenant
    ids = [str(world.alpha["dead"].id)]
    for method, rule in routes(app):
        if WHO[(method, rule)] != "tenant":
            continue
        for path in concrete_paths(rule, ids, [ALPHA_QUEUE]):
            response, _ = call(logged_in(app, operator), method, path, operator)
            assert response.status_code == 403, (method, path, response.status_code)
    with engine.connect() as conn:
        assert queue_core.get(conn, world.alpha["dead"].id).state.value == "dead"


def test_a_tenant_key_with_every_scope_gets_403_on_metrics(app: Flask, engine: Engine) -> None:
    world = World(engine)
    response = app.test_client().get("/metrics", headers=bearer(world.alpha_key.token))
    assert response.status_code == 403
    assert response.content_type == "application/problem+json"
    assert "operator key" in response.get_json()["detail"]


def test_operator_keys_are_made_only_without_tenant_or_tenant_scopes(engine: Engine) -> None:
    with engine.begin() as conn:
        with pytest.raises(queue_core.InvalidTaskError, match="scopes"):
            queue_core.create_key(conn, tenant=ALPHA, scopes=["admin"])
        created = queue_core.create_operator_key(conn)
    assert created.key.tenant is None and created.key.scopes == ("admin",)
    assert created.key.operator


def test_operator_keys_come_from_the_cli_only(db_url: str, app: Flask) -> None:
    from click.testing import CliRunner

    from taskrow.cli import main

    runner = CliRunner()
    env = {"TASKROW_DATABASE_URL": db_url}
    created = runner.invoke(main, ["keys", "create", "--admin", "--name", "prom"], env=env)
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    assert "tenant=- scopes=admin" in created.stderr
    listed = runner.invoke(main, ["keys", "list"], env=env).stdout
    [row] = [line.split() for line in listed.splitlines() if line.startswith(token.split("_")[1])]
    assert row[1:3] == ["-", "admin"], "no tenant, the admin scope alone"
    client = app.test_client()
    assert client.get("/metrics", headers=bearer(token)).status_code == 200
    assert client.get("/v1/queues", headers=bearer(token)).status_code == 403
    for extra in (["--tenant", ALPHA], ["--scope", "read"], ["--queue", "q"]):
        refused = runner.invoke(main, ["keys", "create", "--admin", *extra], env=env)
        assert refused.exit_code == 2 and "Traceback" not in refused.output
    # the HTTP API has no route that makes keys: WHO lists every route there is
    assert not any("key" in rule for _, rule in routes(app))


def test_with_auth_off_every_caller_is_trusted_metrics_included(db_url: str) -> None:
    app = api.create_app(settings_for(db_url, auth_enabled=False))
    try:
        assert app.test_client().get("/metrics").status_code == 200
    finally:
        app.extensions["taskrow"].engine.dispose()
