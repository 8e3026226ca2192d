"""Every row of the HTTP contract (docs/architecture.md), through Flask's test client on real
Postgres."""

from __future__ import annotations

import base64
import uuid
from types import SimpleNamespace

import pytest
from flask import Flask, url_for
from flask.testing import FlaskClient
from sqlalchemy.engine import Engine
from werkzeug.test import TestResponse

import queue_core
from api import records

from .conftest import MakeApp, MakeKey, bearer, count_tasks


def enqueue(
    client: FlaskClient, key: str, body: dict[str, object] | None = None, **headers: str
) -> TestResponse:
    return client.post(
        "/v1/tasks", json=body or {"task": "send_email"}, headers={**bearer(key), **headers}
    )


def claim_one(engine: Engine, queue: str = "default") -> queue_core.Task:
    with engine.begin() as conn:
        [task] = queue_core.claim(conn, [queue], 1, worker_id="test-worker")
    return task


def test_enqueue_accepted_is_202_with_links_and_a_committed_row(
    client: FlaskClient, key: str, engine: Engine
) -> None:
    body = {
        "task": "send_email",
        "args": {"to": "a@example.com"},
        "queue": "mail",
        "priority": 5,
        "delay_seconds": 0,
        "max_attempts": 5,
        "timeout_seconds": 300,
    }
    response = enqueue(client, key, body)
    assert response.status_code == 202
    record = response.get_json()
    task_id = record["id"]
    assert response.headers["Location"] == f"/v1/tasks/{task_id}"
    assert response.headers["Link"] == f'</v1/tasks/{task_id}>; rel="monitor"'
    assert int(response.headers["Retry-After"]) >= 1
    assert response.headers["Cache-Control"] == "no-store"
    assert record["state"] == "queued" and record["attempt"] == 0
    assert record["max_attempts"] == 5 and record["priority"] == 5
    assert record["links"] == {
        "self": f"/v1/tasks/{task_id}",
        "result": f"/v1/tasks/{task_id}/result",
    }
    assert list(record) == [  # served in this order (sort_keys is off); result once succeeded
        "id", "task", "queue", "state", "attempt", "max_attempts", "priority", "run_at",
        "timeout_seconds", "cancel_requested", "progress", "created_at", "started_at",
        "finished_at", "error", "errors", "lease_expires_at", "links",
    ]  # fmt: skip
    with engine.connect() as conn:  # the answer came after the commit: another connection sees it
        stored = queue_core.get(conn, task_id)
    assert stored.args == {"to": "a@example.com"} and stored.queue == "mail"


def test_run_at_is_accepted_and_both_run_at_and_delay_is_422(client: FlaskClient, key: str) -> None:
    later = enqueue(client, key, {"task": "t", "run_at": "2031-01-02T03:04:05+02:00"})
    assert later.status_code == 202
    assert later.get_json()["run_at"] == "2031-01-02T01:04:05Z"
    both = enqueue(client, key, {"task": "t", "run_at": "2031-01-02T03:04:05Z", "delay_seconds": 1})
    assert both.status_code == 422
    assert both.get_json()["errors"][0]["field"] == "run_at"


def test_same_idempotency_key_and_body_replays_the_original_task(
    client: FlaskClient, key: str, engine: Engine
) -> None:
    first = enqueue(client, key, {"task": "charge", "args": {"n": 1}}, **{"Idempotency-Key": "k1"})
    again = enqueue(client, key, {"task": "charge", "args": {"n": 1}}, **{"Idempotency-Key": "k1"})
    assert first.status_code == again.status_code == 202
    assert again.get_json()["id"] == first.get_json()["id"]
    assert again.headers["Location"] == first.headers["Location"]
    assert count_tasks(engine) == 1


def test_same_idempotency_key_with_a_different_body_is_422(
    client: FlaskClient, key: str, engine: Engine
) -> None:
    enqueue(client, key, {"task": "charge", "args": {"n": 1}}, **{"Idempotency-Key": "k1"})
    other = enqueue(client, key, {"task": "charge", "args": {"n": 2}}, **{"Idempotency-Key": "k1"})
    assert other.status_code == 422
    assert other.content_type == "application/problem+json"
    assert other.get_json()["errors"][0]["field"] == "Idempotency-Key"
    assert count_tasks(engine) == 1


def test_idempotency_keys_are_scoped_per_tenant(
    client: FlaskClient, make_key: MakeKey, engine: Engine
) -> None:
    acme, globex = make_key(tenant="acme"), make_key(tenant="globex")
    first = enqueue(client, acme, {"task": "t"}, **{"Idempotency-Key": "same"})
    second = enqueue(client, globex, {"task": "t", "args": {"x": 1}}, **{"Idempotency-Key": "same"})
    assert first.status_code == second.status_code == 202
    assert first.get_json()["id"] != second.get_json()["id"]
    assert count_tasks(engine) == 2


def test_poll_while_queued_and_running_is_200_with_retry_after_and_progress(
    client: FlaskClient, key: str, engine: Engine
) -> None:
    url = enqueue(client, key).headers["Location"]
    queued = client.get(url, headers=bearer(key))
    assert queued.status_code == 200 and queued.get_json()["state"] == "queued"
    assert queued.headers["Retry-After"] and queued.headers["Cache-Control"] == "no-store"
    task = claim_one(engine)
    with engine.begin() as conn:
        queue_core.progress(conn, task.lease, 3, 10, "three of ten")
    running = client.get(url, headers=bearer(key))
    record = running.get_json()
    assert running.status_code == 200 and running.headers["Retry-After"]
    assert record["state"] == "running" and record["attempt"] == 1
    assert record["progress"] == {"current": 3, "total": 10, "message": "three of ten"}
    assert record["started_at"] is not None and record["finished_at"] is None


def test_poll_when_succeeded_is_303_to_the_result_which_is_200(
    client: FlaskClient, key: str, engine: Engine
) -> None:
    url = enqueue(client, key).headers["Location"]
    early = client.get(f"{url}/result", headers=bearer(key))
    assert early.status_code == 404 and early.get_json()["state"] == "queued"
    task = claim_one(engine)
    with engine.begin() as conn:
        queue_core.complete(conn, task.lease, {"sent": True})
    done = client.get(url, headers=bearer(key))
    assert done.status_code == 303
    assert done.headers["Location"] == f"{url}/result"
    assert done.headers["Cache-Control"] == "no-store"
    result = client.get(done.headers["Location"], headers=bearer(key))
    assert result.status_code == 200
    assert result.get_json()["result"] == {"sent": True}
    followed = client.get(url, headers=bearer(key), follow_redirects=True)
    assert followed.status_code == 200 and followed.get_json()["result"] == {"sent": True}


def test_poll_when_dead_is_200_with_the_error(
    client: FlaskClient, key: str, engine: Engine
) -> None:
    url = enqueue(client, key, {"task": "t", "max_attempts": 1}).headers["Location"]
    task = claim_one(engine)
    with engine.begin() as conn:
        queue_core.fail(conn, queue_core.Failure(task.lease, "ValueError", "bad input"))
    dead = client.get(url, headers=bearer(key))
    assert dead.status_code == 200
    record = dead.get_json()
    assert record["state"] == "dead" and "Retry-After" not in dead.headers
    assert record["error"] == {"type": "ValueError", "message": "bad input"}
    assert record["finished_at"] is not None


def test_poll_when_cancelled_is_200_with_state_and_error(client: FlaskClient, key: str) -> None:
    url = enqueue(client, key).headers["Location"]
    cancelled = client.delete(url, headers=bearer(key))
    assert cancelled.status_code == 200 and cancelled.get_json()["state"] == "cancelled"
    polled = client.get(url, headers=bearer(key))
    assert polled.status_code == 200
    assert polled.get_json()["state"] == "cancelled" and polled.get_json()["error"]["type"]


def test_unknown_or_malformed_id_and_another_tenants_task_are_404(
    client: FlaskClient, make_key: MakeKey
) -> None:
    mine, theirs = make_key(tenant="acme"), make_key(tenant="globex")
    url = enqueue(client, mine).headers["Location"]
    for path in (f"/v1/tasks/{uuid.uuid4()}", "/v1/tasks/not-a-uuid", url, f"{url}/result"):
        response = client.get(path, headers=bearer(theirs))
        assert response.status_code == 404, path
        assert response.content_type == "application/problem+json"
    assert client.delete(url, headers=bearer(theirs)).status_code == 404
    assert client.post(f"{url}/retry", headers=bearer(theirs)).status_code == 404


def test_cancel_running_is_202_and_finished_is_409(
    client: FlaskClient, key: str, engine: Engine
) -> None:
    url = enqueue(client, key).headers["Location"]
    task = claim_one(engine)
    asked = client.delete(url, headers=bearer(key))
    assert asked.status_code == 202
    assert asked.get_json()["state"] == "running" and asked.get_json()["cancel_requested"]
    assert asked.headers["Location"] == url
    with engine.begin() as conn:
        queue_core.complete(conn, task.lease, None)
    late = client.delete(url, headers=bearer(key))
    assert late.status_code == 409 and late.get_json()["state"] == "succeeded"


def test_retry_redrives_a_dead_task_and_is_409_otherwise(
    client: FlaskClient, key: str, engine: Engine
) -> None:
    url = enqueue(client, key, {"task": "t", "max_attempts": 1}).headers["Location"]
    assert client.post(f"{url}/retry", headers=bearer(key)).status_code == 409
    task = claim_one(engine)
    with engine.begin() as conn:
        queue_core.fail(conn, queue_core.Failure(task.lease, "E", "boom"))
    redriven = client.post(f"{url}/retry", headers=bearer(key))
    assert redriven.status_code == 202
    assert redriven.get_json()["state"] == "queued" and redriven.get_json()["attempt"] == 0


def test_list_filters_and_pages_with_an_opaque_cursor(client: FlaskClient, key: str) -> None:
    ids = [enqueue(client, key, {"task": "t", "queue": "q1"}).get_json()["id"] for _ in range(5)]
    enqueue(client, key, {"task": "t", "queue": "q2"})
    seen: list[str] = []
    path = "/v1/tasks?queue=q1&limit=2"
    while path:
        page = client.get(path, headers=bearer(key))
        assert page.status_code == 200
        body = page.get_json()
        seen += [t["id"] for t in body["tasks"]]
        cursor = body["next_cursor"]
        path = f"/v1/tasks?queue=q1&limit=2&cursor={cursor}" if cursor else ""
        if cursor:
            assert 'rel="next"' in page.headers["Link"]
    assert seen == list(reversed(ids))
    queued = client.get("/v1/tasks?state=queued", headers=bearer(key)).get_json()
    assert len(queued["tasks"]) == 6
    assert client.get("/v1/tasks?state=running", headers=bearer(key)).get_json()["tasks"] == []
    pair_with_a_number = base64.urlsafe_b64encode(b'["2026-12-01T09:00:00+00:00", 5]').decode()
    for cursor in ("not-a-cursor", pair_with_a_number):
        bad = client.get("/v1/tasks", query_string={"cursor": cursor}, headers=bearer(key))
        assert bad.status_code == 422 and bad.get_json()["errors"][0] == {
            "field": "cursor",
            "detail": "is not a cursor this API handed out",
        }


def test_queues_show_counts_per_state_and_oldest_due_age(client: FlaskClient, key: str) -> None:
    enqueue(client, key, {"task": "t", "queue": "mail"})
    enqueue(client, key, {"task": "t", "queue": "mail", "delay_seconds": 3600})
    body = client.get("/v1/queues", headers=bearer(key)).get_json()
    [mail] = body["queues"]
    assert mail["queue"] == "mail" and mail["counts"]["queued"] == 2
    assert mail["counts"]["running"] == 0 and mail["oldest_due_age_seconds"] >= 0


def test_batch_is_all_or_nothing(client: FlaskClient, key: str, engine: Engine) -> None:
    good = client.post(
        "/v1/tasks/batch",
        json={"tasks": [{"task": "a"}, {"task": "b", "queue": "q"}]},
        headers=bearer(key),
    )
    assert good.status_code == 202
    assert [t["task"] for t in good.get_json()["tasks"]] == ["a", "b"]
    bad = client.post(
        "/v1/tasks/batch",
        json={"tasks": [{"task": "a"}, {"task": "b", "priority": "high"}]},
        headers=bearer(key),
    )
    assert bad.status_code == 422
    assert bad.get_json()["errors"][0]["field"] == "tasks[1].priority"
    extra = client.post(
        "/v1/tasks/batch", json={"tasks": [{"task": "a"}], "atomic": False}, headers=bearer(key)
    )
    assert extra.status_code == 422 and extra.get_json()["errors"][0]["field"] == "atomic"
    assert count_tasks(engine) == 2


def test_batch_larger_than_the_configured_maximum_is_422(
    make_app: MakeApp, key: str, engine: Engine
) -> None:
    client = make_app(max_batch=3).test_client()
    response = client.post(
        "/v1/tasks/batch", json={"tasks": [{"task": "a"}] * 4}, headers=bearer(key)
    )
    assert response.status_code == 422 and response.get_json()["errors"][0]["field"] == "tasks"
    assert count_tasks(engine) == 0


def test_invalid_fields_are_422_naming_the_field(client: FlaskClient, key: str) -> None:
    cases: dict[str, dict[str, object]] = {
        "task": {"queue": "q"},
        "queue": {"task": "t", "queue": "Not A Queue"},
        "priority": {"task": "t", "priority": 1.5},
        "delay_seconds": {"task": "t", "delay_seconds": -1},
        "max_attempts": {"task": "t", "max_attempts": 0},
        "timeout_seconds": {"task": "t", "timeout_seconds": "soon"},
        "args": {"task": "t", "args": [1, 2]},
        "run_at": {"task": "t", "run_at": "tomorrow"},
        "colour": {"task": "t", "colour": "blue"},
    }
    for field, body in cases.items():
        response = enqueue(client, key, body)
        assert response.status_code == 422, field
        assert response.get_json()["errors"][0]["field"] == field


def test_bad_json_wrong_type_too_large_are_400_415_413(
    make_app: MakeApp, key: str, engine: Engine
) -> None:
    client = make_app(max_body_bytes=1000).test_client()
    headers = {**bearer(key), "Content-Type": "application/json"}
    assert client.post("/v1/tasks", data=b"{nope", headers=headers).status_code == 400
    text = client.post(
        "/v1/tasks", data=b"task=t", headers={**bearer(key), "Content-Type": "text/plain"}
    )
    assert text.status_code == 415
    big = client.post(
        "/v1/tasks", data=b'{"task": "t", "args": {"x": "' + b"a" * 2000 + b'"}}', headers=headers
    )
    assert big.status_code == 413
    assert count_tasks(engine) == 0


def test_queue_depth_limit_is_429_with_retry_after(
    make_app: MakeApp, key: str, engine: Engine
) -> None:
    client = make_app(queue_depth_limit=2).test_client()
    assert enqueue(client, key, {"task": "t", "queue": "small"}).status_code == 202
    assert enqueue(client, key, {"task": "t", "queue": "small"}).status_code == 202
    refused = enqueue(client, key, {"task": "t", "queue": "small"})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert enqueue(client, key, {"task": "t", "queue": "other"}).status_code == 202
    assert count_tasks(engine) == 3


def test_wrong_method_is_405_with_allow_and_unknown_route_is_404(
    client: FlaskClient, key: str
) -> None:
    wrong = client.put("/v1/tasks", headers=bearer(key))
    assert wrong.status_code == 405 and wrong.content_type == "application/problem+json"
    assert set(wrong.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    missing = client.get("/v1/nothing-here", headers=bearer(key))
    assert missing.status_code == 404 and missing.content_type == "application/problem+json"


def test_health_readiness_and_openapi_need_no_key(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz").get_json()
    assert ready["status"] == "ready" and ready["revision"] == queue_core.migrations.head_revision()
    assert client.get("/openapi.json").get_json()["openapi"].startswith("3.1")


def test_readyz_is_503_when_the_schema_is_behind(empty_db_url: str, key: str) -> None:
    import api

    app: Flask = api.create_app(api.ApiSettings(database_url=empty_db_url))
    try:
        response = app.test_client().get("/readyz")
    finally:
        app.extensions["taskrow"].engine.dispose()
    assert response.status_code == 503 and "Retry-After" not in response.headers
    problem = response.get_json()
    assert problem["type"] == "urn:taskrow:problem:schema-not-migrated"
    assert "run `taskrow migrate`" in problem["detail"]


@pytest.mark.parametrize("script_root", ["", "/queue"])
def test_links_are_the_routes_url_for_builds(app: Flask, script_root: str) -> None:
    """records.task_url/result_url build the paths by hand (cheaper on every 202)."""
    task_id = uuid.uuid4()
    task = SimpleNamespace(id=task_id)
    with app.test_request_context("/v1/tasks", base_url=f"http://localhost{script_root}"):
        assert records.task_url(task) == url_for("taskrow.get_task", task_id=task_id)  # type: ignore[arg-type]
        assert records.result_url(task) == url_for("taskrow.get_result", task_id=task_id)  # type: ignore[arg-type]
        assert records.task_url(task).startswith(f"{script_root}/v1/tasks/")  # type: ignore[arg-type]
