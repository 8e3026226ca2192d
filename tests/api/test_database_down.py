"""The database stopped under a running API: 503 + Retry-After quickly, never 202, never a hang;
202 again once it is back. Uses a private Postgres so other tests are not disturbed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

import queue_core
from queue_core import migrations
from taskrow.embedded import EmbeddedPostgres

from ..support import wait_for
from .conftest import CheckedSession, bearer, running_server


@pytest.fixture
def private_pg(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path / "pg")
    server.start()
    try:
        engine = queue_core.create_engine(server.url, pool_size=1)
        migrations.upgrade(engine)
        engine.dispose()
        yield server
    finally:
        server.stop(mode="immediate")


def create_key(url: str) -> str:
    engine = queue_core.create_engine(url, pool_size=1)
    try:
        with engine.begin() as conn:
            return queue_core.create_key(conn).token
    finally:
        engine.dispose()


def timed_post(server: CheckedSession, key: str) -> tuple[float, requests.Response]:
    started = time.monotonic()
    response = server.post("/v1/tasks", json={"task": "t"}, headers=bearer(key))
    return time.monotonic() - started, response


def test_post_is_503_quickly_while_the_database_is_down_and_202_once_back(
    private_pg: EmbeddedPostgres, tmp_path: Path
) -> None:
    key = create_key(private_pg.url)
    with running_server(private_pg.url, tmp_path) as server:
        assert timed_post(server, key)[1].status_code == 202
        private_pg.stop(mode="immediate")
        try:
            for _ in range(3):
                elapsed, response = timed_post(server, key)
                assert response.status_code == 503, response.text
                assert int(response.headers["Retry-After"]) >= 1
                assert response.headers["Content-Type"] == "application/problem+json"
                assert elapsed < 3.0
            assert server.get("/readyz").status_code == 503
            assert server.get("/healthz").status_code == 200
        finally:
            private_pg.start()
        wait_for(
            lambda: timed_post(server, key)[1].status_code == 202,
            timeout=20,
            interval=0.2,
            what="enqueue to succeed again",
        )
        assert server.get("/readyz").status_code == 200
    engine = queue_core.create_engine(private_pg.url, pool_size=1)
    try:
        with engine.connect() as conn:
            assert len(queue_core.list_tasks(conn)) >= 2
    finally:
        engine.dispose()
