"""Every taskrow process through a real PgBouncer 1.18, in transaction and in session pooling.

Transaction pooling runs with ``TASKROW_POOLER=transaction`` (no prepared statements, no
session state; the worker polls, or LISTENs on ``TASKROW_LISTEN_URL``); session pooling needs
no setting. An undeclared transaction pooler is refused at start with the fix in the message.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from sqlalchemy.engine import Engine

import queue_core
from queue_core import Pooler, migrations
from taskrow.embedded import free_port
from worker.recorder import RoundConnection

from ..api.conftest import CheckedSession, bearer, running_server
from ..support import PostgresServer, wait_for
from ..worker.conftest import ROOT, STARTUP_TIMEOUT, WorkerProcess
from .conftest import Bouncer, PgBouncer, pgbouncer_program

pytestmark = pytest.mark.slow  # a real PgBouncer in front of gunicorn and workers

#: (pooling mode of PgBouncer, TASKROW_POOLER): what a deployment behind it sets.
MODES: list[tuple[str, Pooler | None]] = [("transaction", "transaction"), ("session", None)]
MODE_IDS = ["transaction", "session"]
#: Lines no healthy run logs (gunicorn's access log lines are INFO-free "GET ..." lines).
# Levels as the log formats print them (a logger's name such as gunicorn.error is no trouble).
TROUBLE = re.compile(
    r"\b(WARNING|ERROR|CRITICAL)\b|Traceback|(?i:prepared statement|database[._]unavailable)"
)


def env_for(pooler: str | None, **more: str) -> dict[str, str]:
    return {**({"TASKROW_POOLER": pooler} if pooler else {}), **more}


#: Start-up warnings these tests cause by design (a dashboard over plain HTTP, or none).
EXPECTED = re.compile(r"dashboard\.(insecure_cookie|disabled)")


def trouble(text: str) -> list[str]:
    lines = text.splitlines()
    return [line for line in lines if TROUBLE.search(line) and not EXPECTED.search(line)]


def taskrow(url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "TASKROW_POOLER"}
    environ.update(TASKROW_DATABASE_URL=url, **env)
    return subprocess.run(
        [sys.executable, "-m", "taskrow.cli", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


def start_worker(url: str, log: Path, *args: str, **env: str) -> WorkerProcess:
    with pytest.MonkeyPatch.context() as patch:  # WorkerProcess passes the environment on
        patch.delenv("TASKROW_POOLER", raising=False)
        for name, value in env.items():
            patch.setenv(name, value)
        proc = WorkerProcess(url, log, ["--app", "tests.worker.handlers", *args])
    proc.wait_log("worker.started", timeout=STARTUP_TIMEOUT)
    return proc


def post(server: CheckedSession, key: str, body: object, **headers: str) -> requests.Response:
    return server.post("/v1/tasks", json=body, headers={**bearer(key), **headers})


def make_key(engine: Engine, **options: object) -> str:
    with queue_core.transaction(engine) as conn:
        return queue_core.create_key(conn, **options).token  # type: ignore[arg-type]


def succeeded(engine: Engine) -> int:
    with engine.connect() as conn:
        found = queue_core.stats(conn)
    return sum(s.counts.get(queue_core.TaskState.SUCCEEDED, 0) for s in found)


@pytest.mark.parametrize(("mode", "pooler"), MODES, ids=MODE_IDS)
def test_the_api_contract_and_the_dashboard_through_pgbouncer(
    pgbouncer: Bouncer, db_url: str, tmp_path: Path, mode: str, pooler: Pooler | None
) -> None:
    url = pgbouncer(mode).via(db_url)
    engine = queue_core.create_engine(url, pool_size=2, pooler=pooler or "none")
    env = env_for(pooler, TASKROW_SECRET_KEY="s" * 32, TASKROW_DASHBOARD_SECURE_COOKIE="off")
    try:
        key = make_key(engine, scopes=["enqueue", "read", "manage"])
        with running_server(url, tmp_path, env=env) as server:
            accepted = post(server, key, {"task": "send", "args": {"n": 1}})
            assert accepted.status_code == 202
            status_url = accepted.headers["Location"]

            def replay_and_poll(i: int) -> tuple[int, int, str]:
                """Concurrent clients: the pooler hands each transaction another server."""
                again = post(server, key, {"task": "t"}, **{"Idempotency-Key": "once"})
                polled = server.get(status_url, headers=bearer(key)).status_code
                return again.status_code, polled, again.json().get("id")

            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                answers = set(pool.map(replay_and_poll, range(80)))
            assert len(answers) == 1, answers  # one task, replayed 80 times
            [(replayed, polled, _)] = answers
            assert (replayed, polled) == (202, 200)
            with queue_core.transaction(engine) as conn:
                claimed = queue_core.claim(conn, ["default"], 10, worker_id="deploy-test")
            [task] = [c for c in claimed if str(c.id) == accepted.json()["id"]]
            with queue_core.transaction(engine) as conn:
                queue_core.complete(conn, task.lease, {"ok": True})
            done = server.get(status_url, headers=bearer(key))
            assert done.status_code == 303
            result = server.get(done.headers["Location"], headers=bearer(key))
            assert result.json()["result"] == {"ok": True}
            cancel_url = post(server, key, {"task": "c"}).headers["Location"]
            assert server.delete(cancel_url, headers=bearer(key)).status_code == 200
            assert server.get(cancel_url, headers=bearer(key)).json()["state"] == "cancelled"
            dashboard = requests.Session()
            page = dashboard.get(server.base + "/dashboard/login", timeout=30)
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert token is not None
            login = dashboard.post(
                server.base + "/dashboard/login",
                data={"api_key": key, "csrf_token": token.group(1)},
                allow_redirects=False,
                timeout=30,
            )
            assert login.status_code == 302
            for _ in range(8):
                assert dashboard.get(server.base + "/dashboard/", timeout=30).status_code == 200
        log = "".join(p.read_text(errors="replace") for p in tmp_path.glob("gunicorn-*.log"))
        assert trouble(log) == []
    finally:
        engine.dispose()


@pytest.mark.parametrize(("mode", "pooler"), MODES, ids=MODE_IDS)
def test_400_http_enqueues_drained_by_a_worker_through_pgbouncer(
    pgbouncer: Bouncer,
    db_url: str,
    engine: Engine,
    tmp_path: Path,
    mode: str,
    pooler: Pooler | None,
) -> None:
    """What failed before: 400 HTTP enqueues through a transaction pooler, 166 answered 503."""
    url = pgbouncer(mode).via(db_url)
    key = make_key(engine)
    worker = start_worker(
        url,
        tmp_path / "worker.log",
        "--queues",
        "default",
        "--concurrency",
        "4",
        **env_for(pooler),
    )
    try:
        wakeup = "poll" if pooler == "transaction" else "listen"
        assert f"wakeup={wakeup}" in worker.text()
        with running_server(url, tmp_path, env=env_for(pooler)) as server:

            def one(i: int) -> int:
                return post(server, key, {"task": "noop", "args": {}}).status_code

            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                codes = list(pool.map(one, range(400)))
        assert codes.count(202) == 400, {c: codes.count(c) for c in set(codes)}
        wait_for(lambda: succeeded(engine) == 400, timeout=60, what="400 tasks succeeded")
        assert worker.process.poll() is None
        assert trouble(worker.text()) == []
        log = "".join(p.read_text(errors="replace") for p in tmp_path.glob("gunicorn-*.log"))
        assert trouble(log) == []
    finally:
        worker.kill()


def test_a_worker_behind_a_transaction_pooler_listens_on_the_direct_url(
    pgbouncer: Bouncer, db_url: str, engine: Engine, tmp_path: Path
) -> None:
    url = pgbouncer("transaction").via(db_url)
    worker = start_worker(
        url,
        tmp_path / "worker.log",
        "--queues",
        "default",
        "--poll-interval",
        "600",  # only a notification can wake it within the deadline below
        TASKROW_POOLER="transaction",
        TASKROW_LISTEN_URL=db_url,
    )
    try:
        assert "wakeup=listen" in worker.text()
        worker.wait_log("listener.connected")
        bouncer_engine = queue_core.create_engine(url, pool_size=1, pooler="transaction")
        try:
            with queue_core.transaction(bouncer_engine) as conn:
                queue_core.enqueue(conn, "noop", {})
        finally:
            bouncer_engine.dispose()
        wait_for(lambda: succeeded(engine) == 1, timeout=20, what="the task, woken by NOTIFY")
        assert trouble(worker.text()) == []
    finally:
        worker.kill()


@pytest.mark.parametrize("command", ["api", "worker", "migrate"])
def test_an_undeclared_transaction_pooler_is_refused_with_the_fix(
    pgbouncer: Bouncer, db_url: str, command: str
) -> None:
    url = pgbouncer("transaction").via(db_url)
    args = {
        "api": ["api", "--bind", "127.0.0.1:0"],
        "worker": ["worker", "--app", "tests.worker.handlers", "--queues", "default"],
        "migrate": ["migrate"],
    }[command]
    done = taskrow(url, *args)
    assert done.returncode == 1, done
    assert "set TASKROW_POOLER=transaction" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_worker_started_before_the_pooler_answers_still_refuses_it(
    pg_server: PostgresServer, db_url: str, tmp_path: Path
) -> None:
    """The check waits for the database instead of being skipped: a worker started while an
    undeclared transaction pooler is down must not run behind it once it comes up."""
    port = free_port()
    url = sa.make_url(db_url).set(host="127.0.0.1", port=port).render_as_string(False)
    environ = {k: v for k, v in os.environ.items() if k != "TASKROW_POOLER"}
    environ["TASKROW_DATABASE_URL"] = url
    command = [sys.executable, "-m", "taskrow.cli", "worker", "--app", "tests.worker.handlers"]
    log = tmp_path / "worker.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(command, cwd=ROOT, env=environ, stdout=sink, stderr=sink)
    bouncer = None
    try:
        wait_for(
            lambda: "pooler.check_waiting" in log.read_text(),
            timeout=STARTUP_TIMEOUT,
            what="the worker to wait for its database",
        )
        bouncer = PgBouncer(pgbouncer_program(), pg_server.url, "transaction", port=port)
        code = process.wait(timeout=STARTUP_TIMEOUT)
        text = log.read_text()
        assert code == 1, text
        assert "set TASKROW_POOLER=transaction" in text and "Traceback" not in text
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        if bouncer is not None:
            bouncer.stop()


def test_a_listen_url_through_the_transaction_pooler_is_refused(
    pgbouncer: Bouncer, db_url: str
) -> None:
    url = pgbouncer("transaction").via(db_url)
    done = taskrow(
        url,
        *["worker", "--app", "tests.worker.handlers", "--queues", "default"],
        TASKROW_POOLER="transaction",
        TASKROW_LISTEN_URL=url,
    )
    assert done.returncode == 1, done
    assert "TASKROW_LISTEN_URL leads through a transaction pooler" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "command", [["stats"], ["worker", "--app", "tests.worker.handlers"], ["api"], ["migrate"]]
)
def test_a_pooler_setting_taskrow_does_not_know_is_a_usage_error(
    db_url: str, command: list[str]
) -> None:
    done = taskrow(db_url, *command, TASKROW_POOLER="pgbouncer")
    assert done.returncode == 2, done
    assert "TASKROW_POOLER: 'pgbouncer' is not one of none, session, transaction" in done.stderr
    assert "Traceback" not in done.stderr


def test_migrate_keys_and_ops_commands_through_a_transaction_pooler(
    pgbouncer: Bouncer, empty_db_url: str
) -> None:
    url = pgbouncer("transaction").via(empty_db_url)
    env = {"TASKROW_POOLER": "transaction"}
    migrated = taskrow(url, "migrate", **env)
    assert migrated.returncode == 0, migrated
    assert f"at revision {migrations.head_revision()}" in migrated.stdout
    created = taskrow(url, "keys", "create", "--tenant", "acme", **env)
    assert created.returncode == 0, created
    enqueued = taskrow(url, "enqueue", "noop", **env)
    assert enqueued.returncode == 0, enqueued
    for _ in range(3):
        stats = taskrow(url, "stats", **env)
        assert stats.returncode == 0 and "default" in stats.stdout, stats


def test_transaction_pooler_seen_only_behind_transaction_pooling(
    pgbouncer: Bouncer, db_url: str
) -> None:
    assert not queue_core.transaction_pooler_seen(db_url)
    assert not queue_core.transaction_pooler_seen(pgbouncer("session").via(db_url))
    assert queue_core.transaction_pooler_seen(pgbouncer("transaction").via(db_url))


def test_transaction_pooler_seen_with_a_single_server_connection(
    pgbouncer: Bouncer, db_url: str
) -> None:
    """With one server connection, the probe must not wait for the one its own client holds."""
    started = time.monotonic()
    assert queue_core.transaction_pooler_seen(pgbouncer("transaction", 1).via(db_url))
    assert time.monotonic() - started < 10


def test_a_vanished_prepared_statement_names_the_fix(pgbouncer: Bouncer, db_url: str) -> None:
    """The second line of defence, for an engine made without the setting: the error that a
    prepared statement meets on another server connection says what to set."""
    url = pgbouncer("transaction").via(db_url)
    engine = queue_core.create_engine(url, pool_size=2, pre_ping=False)
    try:
        with (
            pytest.raises(queue_core.PoolerMismatch, match="TASKROW_POOLER=transaction"),
            engine.connect() as first,
            engine.connect() as second,
        ):
            for _ in range(10):  # prepared on first's server after 5 runs
                with queue_core.translate_errors(), first.begin():
                    first.execute(sa.text("SELECT 1"))
                with queue_core.translate_errors(), second.begin():
                    second.execute(sa.text("SELECT pg_backend_pid()"))  # takes that server
                    with first.begin():
                        first.execute(sa.text("SELECT 1"))  # on another server
    finally:
        engine.dispose()


def test_the_worker_round_leaves_no_session_setting_behind_a_transaction_pooler(
    pgbouncer: Bouncer, db_url: str
) -> None:
    """A session ``SET`` would stay on the server connection for the pooler's next client."""
    url = pgbouncer("transaction").via(db_url)
    engine = queue_core.create_engine(url, pool_size=1, pooler="transaction")
    other = queue_core.create_engine(url, pool_size=1, pooler="transaction")
    rounds = RoundConnection(engine)
    try:
        with rounds.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        with other.connect() as conn:  # PgBouncer reuses the server the round just released
            assert conn.execute(sa.text("SHOW plan_cache_mode")).scalar_one() == "auto"
    finally:
        rounds.close()
        engine.dispose()
        other.dispose()
