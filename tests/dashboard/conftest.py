"""Fixtures of the dashboard tests: an app on a fresh database, keys, a real HTTP server and
a real headless Chromium (Debian's ``chromium`` driven by Playwright)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from sqlalchemy.engine import Engine
from werkzeug.serving import make_server

import api
import queue_core

SECRET = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

MakeKey = Callable[..., str]


def settings_for(db_url: str, **overrides: Any) -> api.ApiSettings:
    values: dict[str, Any] = {
        "database_url": db_url,
        "pool_size": 4,
        "secret_key": SECRET,
        "dashboard_secure_cookie": False,
    }
    return api.ApiSettings(**{**values, **overrides})


@pytest.fixture
def make_app(db_url: str) -> Iterator[Callable[..., Flask]]:
    apps: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        app = api.create_app(settings_for(db_url, **overrides))
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["taskrow"].engine.dispose()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def make_key(engine: Engine) -> MakeKey:
    """``make_key(tenant=..., scopes=[...], queues=[...])`` -> the key's token."""

    def make(**options: Any) -> str:
        with engine.begin() as conn:
            return queue_core.create_key(conn, **options).token

    return make


@pytest.fixture
def manage_key(make_key: MakeKey) -> str:
    return make_key(scopes=["manage", "read"], name="dashboard test")


@pytest.fixture
def serve() -> Iterator[Callable[[Flask], str]]:
    """``serve(app)`` -> the base URL of a real threaded HTTP server running ``app``."""
    servers: list[Any] = []

    def start(app: Flask) -> str:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        launched.close()


def new_context(browser: Browser, *, auto_refresh: bool) -> BrowserContext:
    """A fresh browser profile; without ``auto_refresh`` the pages never reload by themselves
    (as if the user unticked the box), so a click cannot race a reload."""
    made = browser.new_context(viewport={"width": 1280, "height": 800})
    made.set_default_timeout(10_000)
    if not auto_refresh:
        made.add_init_script("window.localStorage.setItem('taskrow-auto-refresh', 'off')")
    return made


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    made = new_context(browser, auto_refresh=False)
    yield made
    made.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()
