"""Fast checks through Flask's test client: login, redirects, cookie, CSRF, tenants, errors."""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import Engine
from werkzeug.test import TestResponse

import api
import queue_core
from queue_core import records

from .conftest import SECRET, MakeKey
from .helpers import csrf_token, dead_task, queued_task, state_of


def login(client: FlaskClient, token: str, next_url: str | None = None) -> TestResponse:
    form = {"api_key": token, "csrf_token": csrf_token(client.get("/dashboard/login").text)}
    if next_url is not None:
        form["next"] = next_url
    return client.post("/dashboard/login", data=form)


def set_cookie_header(response: TestResponse) -> str:
    headers = response.headers.getlist("Set-Cookie")
    [cookie] = [h for h in headers if h.startswith("taskrow_dashboard=")]
    return cookie


def test_pages_redirect_to_login_until_logged_in(app: Flask, manage_key: str) -> None:
    client = app.test_client()
    response = client.get("/dashboard/tasks?state=dead")
    assert response.status_code == 302
    assert response.location.startswith("/dashboard/login?next=")
    assert response.location.endswith("next=/dashboard/tasks?state%3Ddead")
    response = login(client, manage_key, "/dashboard/tasks?state=dead")
    assert response.status_code == 302
    assert response.location == "/dashboard/tasks?state=dead"
    assert client.get("/dashboard/").status_code == 200


def test_a_key_without_manage_scope_is_refused(app: Flask, make_key: MakeKey) -> None:
    client = app.test_client()
    response = login(client, make_key(scopes=["read", "enqueue"]))
    assert response.status_code == 403
    assert "lacks the manage scope" in response.text
    assert client.get("/dashboard/").status_code == 302
    response = login(client, "trk_0000000000000000_" + "x" * 43)
    assert response.status_code == 401
    assert "unknown or revoked" in response.text


def test_cookie_is_httponly_lax_scoped_and_holds_no_key(
    make_app: Callable[..., Flask], manage_key: str
) -> None:
    client = make_app(dashboard_secure_cookie=True).test_client()
    cookie = set_cookie_header(login(client, manage_key))
    assert "; Secure" in cookie
    assert "; HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Path=/dashboard" in cookie
    secret_part = manage_key.split("_", 2)[2]
    assert secret_part not in cookie
    insecure = make_app(dashboard_secure_cookie=False).test_client()
    assert "; Secure" not in set_cookie_header(login(insecure, manage_key))


def test_a_revoked_key_ends_the_session(app: Flask, manage_key: str, engine: Engine) -> None:
    client = app.test_client()
    login(client, manage_key)
    assert client.get("/dashboard/").status_code == 200
    with engine.begin() as conn:
        queue_core.revoke_key(conn, manage_key.split("_")[1])
    assert client.get("/dashboard/").status_code == 302


def test_a_forged_cookie_is_not_a_session(app: Flask, manage_key: str) -> None:
    client = app.test_client()
    key_id = manage_key.split("_")[1]
    client.set_cookie("taskrow_dashboard", f'{{"c":"x","k":"{key_id}"}}', path="/dashboard")
    assert client.get("/dashboard/").status_code == 302


def test_post_without_csrf_token_changes_nothing(
    app: Flask, manage_key: str, engine: Engine
) -> None:
    client = app.test_client()
    login(client, manage_key)
    dead, queued = dead_task(engine), queued_task(engine)
    for path, data in [
        (f"/dashboard/tasks/{dead.id}/retry", {}),
        (f"/dashboard/tasks/{queued.id}/cancel", {"csrf_token": "forged"}),
    ]:
        response = client.post(path, data=data)
        assert response.status_code == 400
        assert "nothing was changed" in response.text
    assert state_of(engine, dead) == "dead"
    assert state_of(engine, queued) == "queued"
    assert client.post("/dashboard/logout").status_code == 400
    assert client.get("/dashboard/").status_code == 200  # still logged in


def test_another_tenants_task_is_not_found(app: Flask, manage_key: str, engine: Engine) -> None:
    client = app.test_client()
    login(client, manage_key)
    theirs = dead_task(engine, tenant="other")
    response = client.get(f"/dashboard/tasks/{theirs.id}")
    assert response.status_code == 404
    assert "No such task" in response.text
    token = csrf_token(client.get("/dashboard/").text)
    retried = client.post(f"/dashboard/tasks/{theirs.id}/retry", data={"csrf_token": token})
    assert retried.status_code == 404
    assert state_of(engine, theirs) == "dead"
    assert str(theirs.id) not in client.get("/dashboard/tasks?state=dead").text


def test_errors_are_pages_and_values_are_escaped(
    app: Flask, manage_key: str, engine: Engine
) -> None:
    client = app.test_client()
    login(client, manage_key)
    with engine.begin() as conn:
        task = queue_core.enqueue(conn, "send", {"x": "<script>alert(1)</script>"})
    page = client.get(f"/dashboard/tasks/{task.id}").text
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    for path, status in [
        ("/dashboard/tasks/not-a-uuid", 404),
        ("/dashboard/no/such/page", 404),
        ("/dashboard/tasks?state=sleeping", 400),
    ]:
        response = client.get(path)
        assert response.status_code == status
        assert response.content_type.startswith("text/html")
    token = csrf_token(client.get("/dashboard/").text)
    response = client.post(f"/dashboard/tasks/{task.id}/retry", data={"csrf_token": token})
    assert response.status_code == 409
    assert "cannot be retried" in response.text


def test_login_never_redirects_off_the_dashboard(app: Flask, manage_key: str) -> None:
    client = app.test_client()
    for target in ["https://evil.example/", "//evil.example/dashboard/", "/v1/tasks"]:
        response = login(client, manage_key, target)
        assert response.location == "/dashboard/"


def test_without_a_secret_key_the_dashboard_explains(
    make_app: Callable[..., Flask],
) -> None:
    client = make_app(secret_key=None).test_client()
    response = client.get("/dashboard/login")
    assert response.status_code == 503
    assert "TASKROW_SECRET_KEY" in response.text
    assert "Set-Cookie" not in response.headers
    with pytest.raises(api.SettingsError, match="TASKROW_SECRET_KEY"):
        make_app(secret_key=SECRET[:10])


def test_retry_every_dead_task_of_a_queue(app: Flask, manage_key: str, engine: Engine) -> None:
    client = app.test_client()
    login(client, manage_key)
    mine = [dead_task(engine, queue="billing") for _ in range(2)]
    other_queue, other_tenant = dead_task(engine), dead_task(engine, queue="billing", tenant="b")
    page = client.get("/dashboard/").text
    assert "Retry 2 dead" in page
    response = client.post("/dashboard/queues/billing/retry", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 302
    assert "2 dead tasks of queue billing queued again." in client.get(response.location).text
    assert [state_of(engine, t) for t in mine] == ["queued", "queued"]
    assert state_of(engine, other_queue) == "dead"
    assert state_of(engine, other_tenant) == "dead"


def test_a_database_outage_is_a_page(make_app: Callable[..., Flask], manage_key: str) -> None:
    client = make_app(database_url="postgresql://taskrow@127.0.0.1:9/none").test_client()
    response = login(client, manage_key)
    assert response.status_code == 503
    assert "The database is unavailable" in response.text


def test_task_lists_page_newest_first(app: Flask, manage_key: str, engine: Engine) -> None:
    client = app.test_client()
    login(client, manage_key)
    with engine.begin() as conn:
        made = queue_core.enqueue_many(
            conn, [queue_core.NewTask("t", {"n": i}, queue="bulk") for i in range(53)]
        )
    first = client.get("/dashboard/tasks?queue=bulk&state=queued").text
    assert first.count("data-task-id=") == 50
    older = re.search(r'href="([^"]*before=[^"]*)">Older tasks', first)
    assert older is not None
    link = html.unescape(older.group(1))
    cursor = parse_qs(urlsplit(link).query)["before"][0]
    last_shown = re.findall(r'data-task-id="([^"]+)"', first)[-1]
    [last] = [t for t in made if str(t.id) == last_shown]
    assert records.decode_cursor(cursor) == (last.created_at, last.id)  # the API's own format
    second = client.get(link).text
    shown = set(re.findall(r'data-task-id="([^"]+)"', first + second))
    assert shown == {str(t.id) for t in made}
    assert "Older tasks" not in second
    pair = json.dumps([last.created_at.replace(tzinfo=None).isoformat(), str(last.id)])
    naive = base64.urlsafe_b64encode(pair.encode()).decode()  # a time without its offset
    for bad in ("not-a-cursor", f"{made[0].created_at.isoformat()}~{made[0].id}", naive):
        refused = client.get("/dashboard/tasks", query_string={"queue": "bulk", "before": bad})
        assert refused.status_code == 400 and "Bad page link" in refused.text
