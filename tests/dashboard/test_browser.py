"""The dashboard in a real headless Chromium against a real HTTP server and Postgres."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy.engine import Engine

import queue_core

from .conftest import MakeKey, new_context
from .helpers import dead_task, queued_task, state_of

pytestmark = pytest.mark.slow  # drives a headless Chromium

Serve = Callable[[Flask], str]


def log_in(page: Page, base: str, token: str) -> None:
    page.goto(f"{base}/dashboard/")
    expect(page).to_have_url(f"{base}/dashboard/login?next=/dashboard/")
    page.fill("#api_key", token)
    page.click("button[type=submit]")


def test_login_requires_a_manage_key(
    make_app: Callable[..., Flask], serve: Serve, page: Page, make_key: MakeKey, manage_key: str
) -> None:
    base = serve(make_app())
    log_in(page, base, make_key(scopes=["read"]))
    expect(page.get_by_role("alert")).to_have_text(
        "This API key lacks the manage scope the dashboard needs."
    )
    page.fill("#api_key", manage_key)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{base}/dashboard/")
    expect(page.locator("h1")).to_have_text("Queues")


def test_counts_retry_and_cancel(
    make_app: Callable[..., Flask],
    serve: Serve,
    page: Page,
    context: BrowserContext,
    engine: Engine,
    manage_key: str,
) -> None:
    dead = dead_task(engine, queue="billing")
    waiting = [queued_task(engine, queue="emails") for _ in range(3)]
    base = serve(make_app())
    console_errors: list[str] = []  # a Content-Security-Policy violation shows up here
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    log_in(page, base, manage_key)

    _expect_counts_match_database(page, engine)

    page.click("text=Dead tasks")
    row = page.locator(f"tr[data-task-id='{dead.id}']")
    expect(row.locator(".error-type")).to_have_text("ValueError")
    expect(row.locator(".error-message")).to_have_text("mailbox <a@example.com> does not exist")
    row.get_by_role("button", name="Retry").click()
    expect(page.locator(f"tr[data-task-id='{dead.id}']")).to_have_count(0)
    assert state_of(engine, dead) == "queued"

    _run_to_success(engine, dead, page, f"{base}/dashboard/tasks/{dead.id}")

    page.goto(f"{base}/dashboard/tasks/{waiting[0].id}")
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("status")).to_have_text("The task was cancelled.")
    expect(page.locator("#state")).to_have_text("cancelled")
    assert state_of(engine, waiting[0]) == "cancelled"
    _expect_counts_match_database(page, engine, base)
    assert console_errors == []


def test_a_post_without_the_csrf_token_changes_nothing(
    make_app: Callable[..., Flask],
    serve: Serve,
    page: Page,
    context: BrowserContext,
    engine: Engine,
    manage_key: str,
) -> None:
    dead = dead_task(engine)
    base = serve(make_app())
    log_in(page, base, manage_key)
    expect(page.locator("h1")).to_have_text("Queues")
    # The browser's own cookies go along; only the hidden token is missing or wrong.
    forms: list[dict[str, str | float | bool]] = [{}, {"csrf_token": "not-the-token"}]
    for form in forms:
        answer = context.request.post(f"{base}/dashboard/tasks/{dead.id}/retry", form=form)
        assert answer.status == 400
        assert "nothing was changed" in answer.text()
    assert state_of(engine, dead) == "dead"


def test_cookie_flags_in_the_browser(
    make_app: Callable[..., Flask],
    serve: Serve,
    page: Page,
    context: BrowserContext,
    manage_key: str,
) -> None:
    base = serve(make_app(dashboard_secure_cookie=True))
    log_in(page, base, manage_key)
    expect(page.locator("h1")).to_have_text("Queues")  # Chromium keeps Secure on loopback
    [cookie] = [c for c in context.cookies() if c["name"] == "taskrow_dashboard"]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["secure"] is True
    assert cookie["path"] == "/dashboard"
    assert "taskrow_dashboard" not in page.evaluate("document.cookie")


def test_the_queues_page_refreshes_itself(
    make_app: Callable[..., Flask],
    serve: Serve,
    browser: Browser,
    engine: Engine,
    manage_key: str,
) -> None:
    context = new_context(browser, auto_refresh=True)
    try:
        page = context.new_page()
        page.clock.install()  # the page's timers run when the test moves this clock
        queued_task(engine, queue="emails")
        base = serve(make_app())
        log_in(page, base, manage_key)
        cell = page.locator("#queues tr[data-queue='emails'] td[data-state='queued']")
        expect(cell).to_have_text("1")
        queued_task(engine, queue="emails")
        page.clock.run_for(4_000)
        expect(cell).to_have_text("1")
        page.clock.run_for(1_500)  # past 5 s: the page reloads itself
        expect(cell).to_have_text("2")
        page.uncheck("#auto-refresh")
        queued_task(engine, queue="emails")
        page.reload()  # the choice is remembered across loads
        expect(page.locator("#auto-refresh")).not_to_be_checked()
    finally:
        context.close()


def _expect_counts_match_database(page: Page, engine: Engine, base: str | None = None) -> None:
    if base is not None:
        page.goto(f"{base}/dashboard/")
    with engine.begin() as conn:
        stats = queue_core.stats(conn, tenant="default")
    assert stats
    for queue in stats:
        row = page.locator(f"#queues tr[data-queue='{queue.queue}']")
        for state, count in queue.counts.items():
            expect(row.locator(f"td[data-state='{state}']")).to_have_text(str(count))


def _run_to_success(engine: Engine, task: queue_core.Task, page: Page, url: str) -> None:
    """Act as the worker: claim, report progress, complete; the task page follows along."""
    with engine.begin() as conn:
        [claimed] = queue_core.claim(conn, [task.queue], 1, worker_id="browser-test")
        assert claimed.id == task.id
        queue_core.progress(conn, claimed.lease, 3, 4, "sending")
    page.goto(url)
    expect(page.locator("#state")).to_have_text("running")
    expect(page.locator("#progress")).to_have_attribute("value", "3")
    expect(page.locator("#attempts")).to_have_text("1 of 1")
    with engine.begin() as conn:
        queue_core.complete(conn, claimed.lease, {"sent": True})
    page.reload()
    expect(page.locator("#state")).to_have_text("succeeded")
    expect(page.locator("#result")).to_contain_text('"sent": true')
