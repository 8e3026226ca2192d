"""Fixtures of the API tests: an app on a fresh database, keys, and checked clients.

Every response seen through ``client`` (Flask's test client) or ``http`` (requests against a
real gunicorn) is checked against the committed OpenAPI document.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import Engine

import api
import queue_core
from taskrow.embedded import free_port

from ..support import wait_for
from . import openapi_check

MakeKey = Callable[..., str]
MakeApp = Callable[..., Flask]
VENV_BIN = Path(sys.executable).parent


class CheckedClient(FlaskClient):
    """The Flask test client, checking every answer against the OpenAPI document."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        response = super().open(*args, **kwargs)
        sent = response.request
        openapi_check.check(
            sent.method, sent.path, response.status_code, response.content_type, response.data
        )
        return response


def settings_for(db_url: str, **overrides: Any) -> api.ApiSettings:
    values: dict[str, Any] = {"database_url": db_url, "pool_size": 5, "wait_check_interval": 0.05}
    return api.ApiSettings(**{**values, **overrides})


@pytest.fixture
def make_app(db_url: str) -> Iterator[Callable[..., Flask]]:
    apps: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        app = api.create_app(settings_for(db_url, **overrides))
        app.test_client_class = CheckedClient
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["taskrow"].engine.dispose()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def make_key(engine: Engine) -> MakeKey:
    """``make_key(tenant=..., scopes=[...], queues=[...])`` -> the bearer token."""

    def make(**options: Any) -> str:
        with engine.begin() as conn:
            return queue_core.create_key(conn, **options).token

    return make


@pytest.fixture
def key(make_key: MakeKey) -> str:
    return make_key()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def count_tasks(engine: Engine) -> int:
    with engine.connect() as conn:
        return len(queue_core.list_tasks(conn, limit=1000))


class CheckedSession(requests.Session):
    """requests against a real server, checking every answer against the OpenAPI document."""

    process: subprocess.Popen[bytes] | None = None

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        kwargs["allow_redirects"] = False  # every answer is seen (and checked) as sent
        kwargs.setdefault("timeout", 40)
        response = super().request(method, self.base + str(url), *args, **kwargs)
        assert response.request.url is not None
        path = urllib.parse.urlparse(response.request.url).path
        openapi_check.check(
            str(method).upper(),
            path,
            response.status_code,
            response.headers.get("Content-Type"),
            response.content,
        )
        return response


@contextlib.contextmanager
def running_server(
    db_url: str,
    folder: Path,
    *,
    args: tuple[str, ...] = (),
    env: Mapping[str, str] | None = None,
    server: str = "gunicorn",
) -> Iterator[CheckedSession]:
    """``taskrow api`` (``server``: gunicorn or granian, 2 workers of 8 threads) on a free port,
    killed at exit; ``args`` are more options of ``taskrow api``, ``env`` more environment
    variables. The session's ``process`` is the server's main process."""
    port = free_port()
    environ = {**os.environ, "TASKROW_DATABASE_URL": db_url, **(env or {})}
    log_path = folder / f"gunicorn-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                str(VENV_BIN / "taskrow"),
                "api",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--threads",
                "8",
                "--server",
                server,
                *args,
            ],
            env=environ,
            stdout=log,  # the access log too
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        session = CheckedSession(f"http://127.0.0.1:{port}")
        session.process = process
        try:
            answer = wait_for(
                lambda: _answers(session, process, log_path), timeout=30, what=f"{server} to answer"
            )
            assert answer.headers["Server"].lower().startswith(server), answer.headers
            yield session
        finally:
            session.close()
            _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Kill the main process and its workers (one process group); a test of the shutdown
    sends its own signal first."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=15)


SERVERS = ("gunicorn", "granian")


@pytest.fixture(params=SERVERS)
def server(db_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[CheckedSession]:
    env = {"TASKROW_QUEUE_DEPTH_LIMIT": "20"}
    with running_server(db_url, tmp_path, env=env, server=request.param) as session:
        yield session


def _answers(
    session: CheckedSession, process: subprocess.Popen[bytes], log: Path
) -> requests.Response | None:
    if process.poll() is not None:
        raise AssertionError(f"taskrow api exited: {log.read_text()}")
    try:
        answer = session.get("/healthz")
    except requests.ConnectionError:
        return None
    return answer if answer.status_code == 200 else None
