"""`taskrow api` logs like the worker: text or JSON lines on stderr, one per enqueue, cancel,
re-drive, auth rejection and dashboard action, each with the request's id (the client's
X-Request-ID when well-formed, echoed in the response and in problem+json); never a key's
secret, an Authorization header or a task's args. Read from the real process's output."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from flask import Flask
from sqlalchemy.engine import Engine

import api
import queue_core
from queue_core import Failure

from ..support import wait_for
from .conftest import SERVERS, MakeKey, bearer, running_server

SECRET_KEY = "api-logs-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
ARGS_MARKER = "args-value-never-logged"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def output(folder: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in folder.glob("gunicorn-*.log"))


def dead_task(engine: Engine, tenant: str) -> str:
    with engine.begin() as conn:
        queue_core.enqueue(conn, "t", queue="dlq", tenant=tenant, max_attempts=1)
    with engine.begin() as conn:
        [claimed] = queue_core.claim(conn, ["dlq"], 1, worker_id="w")
        queue_core.fail(conn, Failure(claimed.lease, "E", "boom", "tb", retryable=False))
    return str(claimed.id)


def exercise(base: str, engine: Engine, token: str) -> dict[str, str]:
    """Enqueue, cancel, re-drive, be refused (401, 403), and act on the dashboard; the ids."""
    http = requests.Session()
    seen: dict[str, str] = {}
    posted = http.post(
        base + "/v1/tasks",
        json={"task": "t", "args": {"v": ARGS_MARKER}},
        headers={**bearer(token), "X-Request-ID": "client-req-0001"},
        timeout=30,
    )
    assert posted.status_code == 202 and posted.headers["X-Request-ID"] == "client-req-0001"
    seen["enqueued"] = posted.json()["id"]
    cancelled = http.delete(base + posted.headers["Location"], headers=bearer(token), timeout=30)
    assert cancelled.status_code == 200
    seen["cancel_request_id"] = cancelled.headers["X-Request-ID"]
    seen["dead"] = dead_task(engine, "acme")
    retried = http.post(base + f"/v1/tasks/{seen['dead']}/retry", headers=bearer(token), timeout=30)
    assert retried.status_code == 202
    refused = http.get(
        base + "/v1/tasks",
        headers={**bearer(token + "x"), "X-Request-ID": "not well formed!" + "x" * 200},
        timeout=30,
    )
    assert refused.status_code == 401
    generated = refused.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert refused.json()["request_id"] == generated  # the problem+json names it too
    seen["refused_request_id"] = generated
    forbidden = http.get(base + "/metrics", headers=bearer(token), timeout=30)
    assert forbidden.status_code == 403 and forbidden.json()["request_id"]
    # the dashboard's audit lines: a login and a re-drive
    seen["dashboard_dead"] = dead_task(engine, "acme")
    form = http.get(base + "/dashboard/login", timeout=30).text
    csrf = _CSRF.search(form)
    assert csrf is not None
    login = http.post(
        base + "/dashboard/login",
        data={"api_key": token, "csrf_token": csrf.group(1)},
        allow_redirects=False,
        timeout=30,
    )
    assert login.status_code == 302, login.text
    page = http.get(base + f"/dashboard/tasks/{seen['dashboard_dead']}", timeout=30).text
    csrf = _CSRF.search(page)
    assert csrf is not None
    redriven = http.post(
        base + f"/dashboard/tasks/{seen['dashboard_dead']}/retry",
        data={"csrf_token": csrf.group(1)},
        allow_redirects=False,
        timeout=30,
    )
    assert redriven.status_code == 302
    return seen


ENV = {"TASKROW_SECRET_KEY": SECRET_KEY, "TASKROW_DASHBOARD_SECURE_COOKIE": "off"}


@pytest.mark.parametrize("server", SERVERS)
def test_text_lines_with_request_ids_and_no_secrets(
    db_url: str, tmp_path: Path, engine: Engine, make_key: MakeKey, server: str
) -> None:
    token = make_key(tenant="acme")
    env = {**ENV, "TASKROW_QUEUE_DEPTH_LIMIT": "1"}
    args = ("--log-format", "text")
    with running_server(db_url, tmp_path, args=args, env=env, server=server) as http:
        seen = exercise(http.base, engine, token)
        for status in (202, 429):
            body = {"task": "t", "queue": "full"}
            assert http.post("/v1/tasks", json=body, headers=bearer(token)).status_code == status
        wanted = [
            rf"api\.enqueued task_id={seen['enqueued']} .* request_id=client-req-0001",
            rf"api\.cancelled task_id={seen['enqueued']} .* request_id={seen['cancel_request_id']}",
            rf"api\.retried task_id={seen['dead']} .* request_id=[0-9a-f]{{32}}",
            rf"api\.auth_rejected path=/v1/tasks request_id={seen['refused_request_id']}",
            r"api\.forbidden path=/metrics key_id=\w+ request_id=[0-9a-f]{32}",
            r"dashboard\.login key_id=\w+ tenant=acme request_id=",
            rf"dashboard\.retried task_id={seen['dashboard_dead']} key_id=\w+ request_id=",
            r"api\.queue_full tenant=acme queue=full limit=1 request_id=[0-9a-f]{32}",
        ]

        def logged() -> str:
            text = output(tmp_path)
            return text if all(re.search(w, text) for w in wanted) else ""

        found = wait_for(logged, timeout=15, what="the API's log lines")
    secret = token.split("_", 2)[2]
    for never in (secret, "Bearer", "Authorization", ARGS_MARKER):
        assert never not in found, never
    line = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO api\.views api\.enqueued"
    assert re.search(line, found, re.M)
    # the access log in the same format
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
    assert re.search(rf"^{stamp} INFO {server}\.access .*POST /v1/tasks", found, re.M)


@pytest.mark.parametrize("server", SERVERS)
def test_json_lines_carry_the_request_id_as_a_field(
    db_url: str, tmp_path: Path, engine: Engine, make_key: MakeKey, server: str
) -> None:
    token = make_key(tenant="acme")
    args = ("--log-format", "json")
    with running_server(db_url, tmp_path, args=args, env=ENV, server=server) as http:
        seen = exercise(http.base, engine, token)

        def enqueued() -> list[dict[str, object]]:
            lines = [json.loads(x) for x in output(tmp_path).splitlines() if x.startswith("{")]
            return [x for x in lines if x.get("event") == "api.enqueued"]

        [line] = wait_for(enqueued, timeout=15, what="the api.enqueued JSON line")
    assert line["request_id"] == "client-req-0001" and line["level"] == "info"
    assert seen["enqueued"] in str(line["message"])
    everything = output(tmp_path)
    access = []
    for raw in everything.splitlines():
        if raw.strip():
            parsed = json.loads(raw)  # every line of the process, the server's own included
            if parsed.get("logger") == f"{server}.access":
                access.append(parsed)
    assert any("POST /v1/tasks" in str(x["message"]) for x in access)
    assert token.split("_", 2)[2] not in everything and ARGS_MARKER not in everything


def test_enqueued_lines_beyond_the_budget_are_counted_in_one_line_a_second(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    """TASKROW_ENQUEUED_LINES=3: three api.enqueued lines in a second, the other tasks counted
    in an api.enqueued_count line once the second is over; at debug level, a line each."""
    app = make_app(auth_enabled=False, enqueued_lines=3)
    client = app.test_client()

    def events() -> list[str]:
        return [r.getMessage().split(" ", 1)[0] for r in caplog.records if r.name == "api.views"]

    caplog.set_level(logging.INFO, logger="api.views")
    for _ in range(5):
        assert client.post("/v1/tasks", json={"task": "t"}).status_code == 202
    first = events()
    assert first.count("api.enqueued") == 3 and "api.enqueued_count" not in first

    def counted() -> list[logging.LogRecord]:  # a later enqueue, once that second is over
        assert client.post("/v1/tasks", json={"task": "t"}).status_code == 202
        return [r for r in caplog.records if r.getMessage().startswith("api.enqueued_count ")]

    [line] = wait_for(counted, timeout=10, what="the api.enqueued_count line")
    assert line.fields["count"] >= 2  # type: ignore[attr-defined]
    caplog.clear()
    caplog.set_level(logging.DEBUG, logger="api.views")
    for _ in range(5):
        assert client.post("/v1/tasks", json={"task": "t"}).status_code == 202
    assert events().count("api.enqueued") == 5


def test_enqueued_lines_setting_reads_a_number_or_all() -> None:
    assert api.ApiSettings.from_mapping({"TASKROW_ENQUEUED_LINES": "all"}).enqueued_lines is None
    assert api.ApiSettings.from_mapping({"TASKROW_ENQUEUED_LINES": "0"}).enqueued_lines == 0
    assert api.ApiSettings.from_mapping({}).enqueued_lines == 100
    with pytest.raises(api.SettingsError, match="TASKROW_ENQUEUED_LINES"):
        api.ApiSettings.from_mapping({"TASKROW_ENQUEUED_LINES": "lots"})
