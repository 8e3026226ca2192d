"""Screenshots of the main pages, over a database with some history.

They are written to a temporary folder, or to ``TASKROW_SCREENSHOT_DIR`` when set; the ones in
``docs/screenshots/`` come from
``TASKROW_SCREENSHOT_DIR=docs/screenshots .venv/bin/pytest tests/dashboard/test_screenshots.py``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect
from sqlalchemy.engine import Connection, Engine

import queue_core
from queue_core import Failure, NewTask, Task

from .conftest import MakeKey, new_context
from .test_browser import Serve, log_in

pytestmark = pytest.mark.slow  # drives a headless Chromium

_TRACEBACK = """Traceback (most recent call last):
  File "/srv/app/handlers/billing.py", line 41, in charge_card
    receipt = gateway.charge(card_token, amount_cents=args["amount"])
  File "/srv/app/gateway.py", line 88, in charge
    raise CardDeclined(response["decline_code"])
billing.errors.CardDeclined: insufficient_funds"""


def test_screenshots_of_the_main_pages(
    make_app: Callable[..., Flask],
    serve: Serve,
    browser: Browser,
    engine: Engine,
    make_key: MakeKey,
    tmp_path: Path,
) -> None:
    context = new_context(browser, auto_refresh=True)  # the box shows ticked, as by default
    try:
        _take_screenshots(make_app, serve, context.new_page(), engine, make_key, tmp_path)
    finally:
        context.close()


def _take_screenshots(
    make_app: Callable[..., Flask],
    serve: Serve,
    page: Page,
    engine: Engine,
    make_key: MakeKey,
    tmp_path: Path,
) -> None:
    folder = Path(os.environ.get("TASKROW_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    running = _history(engine)
    base = serve(make_app())
    log_in(page, base, make_key(scopes=["manage", "read"]))
    expect(page.locator("#queues")).to_be_visible()
    shots = {
        "queues.png": f"{base}/dashboard/",
        "dead-tasks.png": f"{base}/dashboard/tasks?state=dead",
        "task.png": f"{base}/dashboard/tasks/{running.id}",
    }
    for name, url in shots.items():
        page.goto(url)
        page.screenshot(path=str(folder / name), full_page=True)
        assert (folder / name).stat().st_size > 10_000
    dead = page.context.request.get(f"{base}/dashboard/tasks?state=dead").text()
    page.goto(f"{base}/dashboard/tasks/{_first_dead_id(dead)}")
    page.screenshot(path=str(folder / "dead-task.png"), full_page=True)
    page.context.clear_cookies()
    page.goto(f"{base}/dashboard/login")
    page.screenshot(path=str(folder / "login.png"))


def _first_dead_id(html: str) -> str:
    marker = 'data-task-id="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def _history(engine: Engine) -> Task:
    """Queues with tasks in every state; returns a running task that reported progress."""
    with engine.begin() as conn:
        queue_core.enqueue_many(
            conn,
            [
                NewTask("send_email", {"to": f"user{i}@example.com"}, queue="emails")
                for i in range(37)
            ]
            + [NewTask("render_report", {"month": "2026-10"}, queue="reports") for _ in range(4)]
            + [
                NewTask("charge_card", {"amount": 1200 + i}, queue="billing", max_attempts=1)
                for i in range(6)
            ]
            + [NewTask("resize_image", {"id": i}, queue="default", delay=600) for i in range(3)],
        )
    with engine.begin() as conn:
        _finish(conn, "emails", 21)
        _fail(conn, "billing", 3)
        [report] = queue_core.claim(conn, ["reports"], 1, worker_id="worker-2@host-a")
        queue_core.progress(conn, report.lease, 140, 360, "page 140 of 360: revenue by region")
        queue_core.claim(conn, ["emails"], 2, worker_id="worker-1@host-a")
        [cancelled] = queue_core.list_tasks(conn, tenant="default", queue="default", limit=1)
        queue_core.cancel(conn, cancelled.id)
    with engine.begin() as conn:
        return queue_core.get(conn, report.id)


def _finish(conn: Connection, queue: str, n: int) -> None:
    for task in queue_core.claim(conn, [queue], n, worker_id="worker-1@host-a"):
        queue_core.complete(conn, task.lease, {"message_id": f"<{task.id.hex[:12]}@mail>"})


def _fail(conn: Connection, queue: str, n: int) -> None:
    for task in queue_core.claim(conn, [queue], n, worker_id="worker-3@host-b"):
        failure = Failure(task.lease, "CardDeclined", "insufficient_funds", _TRACEBACK)
        queue_core.fail(conn, failure)
