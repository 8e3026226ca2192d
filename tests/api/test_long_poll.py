"""Long polling: answers on change or after the wait, and never pins a database connection."""

from __future__ import annotations

import concurrent.futures
import time

import pytest
from flask import Flask
from sqlalchemy.engine import Engine
from werkzeug.test import TestResponse

import queue_core

from ..support import wait_for
from .conftest import MakeApp, bearer


def enqueue(app: Flask, key: str) -> str:
    response = app.test_client().post("/v1/tasks", json={"task": "t"}, headers=bearer(key))
    assert response.status_code == 202
    return str(response.headers["Location"])


def timed_get(app: Flask, key: str, url: str) -> tuple[float, TestResponse]:
    started = time.monotonic()
    response = app.test_client().get(url, headers=bearer(key))
    return time.monotonic() - started, response


def test_wait_answers_after_the_wait_when_nothing_changes(make_app: MakeApp, key: str) -> None:
    app = make_app()
    url = enqueue(app, key)
    elapsed, response = timed_get(app, key, f"{url}?wait=0.5")
    assert 0.45 <= elapsed < 3
    assert response.status_code == 200 and response.get_json()["state"] == "queued"


def test_waiting_polls_hold_no_connection_and_answer_on_progress(
    make_app: MakeApp, key: str, engine: Engine
) -> None:
    app = make_app(pool_size=1, pool_overflow=0, max_waiting_requests=8)  # one connection
    url = enqueue(app, key)
    with engine.begin() as conn:
        [task] = queue_core.claim(conn, ["default"], 1, worker_id="w")
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        waits = [pool.submit(timed_get, app, key, f"{url}?wait=20") for _ in range(4)]
        wait_for(
            lambda: app.extensions["taskrow"].waiting_slots._value == 8 - 4,
            timeout=5,
            what="the polls to start waiting",
        )
        started = time.monotonic()
        for _ in range(5):  # enqueues go through while four polls wait on the one connection
            enqueue(app, key)
        assert time.monotonic() - started < 1.5
        assert not any(w.done() for w in waits)
        changed_at = time.monotonic()
        with engine.begin() as conn:
            queue_core.progress(conn, task.lease, 1, 2, "half")
        for waited in waits:
            _, response = waited.result(timeout=10)
            assert response.status_code == 200
            assert response.get_json()["progress"]["current"] == 1
        assert time.monotonic() - changed_at < 2


@pytest.mark.slow  # about 3 s
def test_waits_beyond_the_bound_are_answered_at_once(make_app: MakeApp, key: str) -> None:
    app = make_app(max_waiting_requests=1)
    url = enqueue(app, key)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        first = pool.submit(timed_get, app, key, f"{url}?wait=3")
        wait_for(
            lambda: app.extensions["taskrow"].waiting_slots._value == 0,
            timeout=5,
            what="the first poll to wait",
        )
        elapsed, response = timed_get(app, key, f"{url}?wait=3")
        assert elapsed < 1 and response.status_code == 200 and response.headers["Retry-After"]
        assert first.result(timeout=10)[0] >= 2.5


def test_wait_on_a_finished_task_answers_at_once(
    make_app: MakeApp, key: str, engine: Engine
) -> None:
    app = make_app()
    url = enqueue(app, key)
    app.test_client().delete(url, headers=bearer(key))
    elapsed, response = timed_get(app, key, f"{url}?wait=10")
    assert elapsed < 1 and response.get_json()["state"] == "cancelled"
