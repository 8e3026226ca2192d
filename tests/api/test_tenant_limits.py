"""Per-tenant queue depth limits: a tenant's own queued tasks only, its own limit if an operator
set one, and exact under concurrent enqueues (a tenant's queued tasks never exceed its limit)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner
from flask import Flask
from sqlalchemy import text
from sqlalchemy.engine import Engine

import queue_core
from taskrow.cli import main

from .conftest import MakeKey, bearer, running_server

ALPHA, BETA = "alphacorp", "betaworks"


def queued(engine: Engine, tenant: str, queue: str = "default") -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM taskrow.tasks"
                    " WHERE tenant = :t AND queue = :q AND state = 'queued'"
                ),
                {"t": tenant, "q": queue},
            ).scalar_one()
        )


def test_one_tenant_at_its_limit_never_refuses_another(
    make_app: Callable[..., Flask], make_key: MakeKey, engine: Engine
) -> None:
    client = make_app(queue_depth_limit=5).test_client()
    alpha, beta = bearer(make_key(tenant=ALPHA)), bearer(make_key(tenant=BETA))
    for _ in range(5):
        assert client.post("/v1/tasks", json={"task": "t"}, headers=alpha).status_code == 202
    refused = client.post("/v1/tasks", json={"task": "t"}, headers=alpha)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert refused.content_type == "application/problem+json"
    for _ in range(5):
        assert client.post("/v1/tasks", json={"task": "t"}, headers=beta).status_code == 202
    assert client.post("/v1/tasks", json={"task": "t"}, headers=beta).status_code == 429
    # a batch is all or nothing: it must fit whole
    big = {"tasks": [{"task": "t", "queue": "q"}] * 6}
    assert client.post("/v1/tasks/batch", json=big, headers=alpha).status_code == 429
    fits = {"tasks": [{"task": "t", "queue": "q"}] * 5}
    assert client.post("/v1/tasks/batch", json=fits, headers=alpha).status_code == 202
    assert (queued(engine, ALPHA), queued(engine, BETA), queued(engine, ALPHA, "q")) == (5, 5, 5)


def test_a_tenant_limit_set_by_the_operator_replaces_the_default(
    make_app: Callable[..., Flask], make_key: MakeKey, engine: Engine, db_url: str
) -> None:
    client = make_app(queue_depth_limit=3).test_client()
    alpha, beta = bearer(make_key(tenant=ALPHA)), bearer(make_key(tenant=BETA))
    runner = CliRunner()

    def taskrow(*args: str):  # type: ignore[no-untyped-def]
        result = runner.invoke(main, list(args), env={"TASKROW_DATABASE_URL": db_url})
        assert result.exit_code == 0, result.output
        return result

    assert "queue_depth=1" in taskrow("limits", "set", ALPHA, "--queue-depth", "1").stdout
    assert "queue_depth=none" in taskrow("limits", "set", BETA, "--queue-depth", "none").stdout
    assert client.post("/v1/tasks", json={"task": "t"}, headers=alpha).status_code == 202
    assert client.post("/v1/tasks", json={"task": "t"}, headers=alpha).status_code == 429
    for _ in range(6):  # no limit at all for beta
        assert client.post("/v1/tasks", json={"task": "t"}, headers=beta).status_code == 202
    listed = taskrow("limits", "list").stdout
    assert f"tenant {ALPHA}: queue_depth=1" in listed
    assert f"tenant {BETA}: queue_depth=none" in listed
    taskrow("limits", "clear", ALPHA)  # back to the default of 3
    assert client.post("/v1/tasks", json={"task": "t"}, headers=alpha).status_code == 202
    assert client.post("/v1/tasks", json={"task": "t"}, headers=alpha).status_code == 202
    assert client.post("/v1/tasks", json={"task": "t"}, headers=alpha).status_code == 429
    for args in (
        ("limits", "set", ALPHA, "--queue-depth", "-1"),
        ("limits", "set", "Bad!", "--queue-depth", "1"),
    ):
        failed = runner.invoke(main, list(args), env={"TASKROW_DATABASE_URL": db_url})
        assert failed.exit_code != 0 and "Traceback" not in failed.output, failed.output


def test_twenty_concurrent_enqueuers_per_tenant_never_overshoot(
    db_url: str, tmp_path: Path, engine: Engine, make_key: MakeKey
) -> None:
    """Two tenants, 20 threads each against a real `taskrow api` (2 gunicorn workers): each
    tenant ends with exactly its limit queued, whatever the other does."""
    limits = {ALPHA: 12, BETA: 17}
    with engine.begin() as conn:
        queue_core.set_tenant_limit(conn, BETA, queue_depth_limit=limits[BETA])
    keys = {tenant: make_key(tenant=tenant) for tenant in limits}
    answers: Counter[tuple[str, int]] = Counter()
    lock = threading.Lock()
    env = {"TASKROW_QUEUE_DEPTH_LIMIT": str(limits[ALPHA]), "TASKROW_POOL_SIZE": "12"}
    with running_server(db_url, tmp_path, env=env) as http:
        start = threading.Barrier(40)

        def enqueuer(tenant: str) -> None:
            start.wait(timeout=30)
            for _ in range(3):
                status = http.post(
                    "/v1/tasks", json={"task": "t"}, headers=bearer(keys[tenant])
                ).status_code
                with lock:
                    answers[(tenant, status)] += 1

        threads = [threading.Thread(target=enqueuer, args=(t,)) for t in limits for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not any(thread.is_alive() for thread in threads)
    for tenant, limit in limits.items():
        assert queued(engine, tenant) == limit, (tenant, answers)
        assert answers[(tenant, 202)] == limit, answers
        assert answers[(tenant, 429)] == 60 - limit, answers
