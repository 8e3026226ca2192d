"""`taskrow api --server gunicorn|granian` as real processes: SIGTERM lets a request in flight
finish durably before the process exits, and /metrics sums the counters of every worker."""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import re
import signal
import socket
from pathlib import Path

import click
import psutil
import pytest
import requests
import sqlalchemy as sa
from sqlalchemy.engine import Engine

import queue_core
from taskrow import cli_api

from ..support import wait_for
from .conftest import SERVERS, CheckedSession, MakeKey, bearer, count_tasks, running_server

#: What each server logs once it received SIGTERM.
STOPPING = {"gunicorn": r"Handling signal: term", "granian": r"Shutting down granian"}


def _log(folder: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in folder.glob("gunicorn-*.log"))


def _port(http: CheckedSession) -> int:
    return int(http.base.rsplit(":", 1)[1])


def _refuses(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def _insert_waiting_on_a_lock(engine: Engine) -> bool:
    """True once one of the API's connections waits for a lock (its INSERT, held below)."""
    with engine.connect() as conn:
        waiting = conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'taskrow-api'"
                " AND wait_event_type = 'Lock' AND datname = current_database()"
            )
        ).scalar_one()
    return bool(waiting)


@pytest.mark.parametrize("server", SERVERS)
def test_sigterm_lets_the_request_in_flight_commit_then_exits(
    db_url: str, tmp_path: Path, engine: Engine, key: str, server: str
) -> None:
    with running_server(db_url, tmp_path, server=server) as http:
        assert http.process is not None
        port = _port(http)
        with concurrent.futures.ThreadPoolExecutor(1) as pool, engine.connect() as blocker:
            # hold the INSERT of the next enqueue: the request stays in flight in a worker
            blocker.execute(sa.text("LOCK TABLE taskrow.tasks IN EXCLUSIVE MODE"))
            posting = pool.submit(
                requests.post,
                http.base + "/v1/tasks",
                json={"task": "in-flight"},
                headers=bearer(key),
                timeout=30,
            )
            wait_for(
                lambda: _insert_waiting_on_a_lock(engine), timeout=20, what="the POST in flight"
            )
            os.kill(http.process.pid, signal.SIGTERM)
            wait_for(
                lambda: re.search(STOPPING[server], _log(tmp_path)),
                timeout=20,
                what="the server to begin its shutdown",
            )
            assert http.process.poll() is None  # still draining the request in flight
            blocker.rollback()  # the lock goes: the INSERT proceeds
            answered = posting.result(timeout=30)
        assert answered.status_code == 202
        assert http.process.wait(timeout=20) == 0
        assert _refuses(port)
    with engine.connect() as conn:
        task = queue_core.get(conn, answered.json()["id"])
    assert task.task == "in-flight" and count_tasks(engine) == 1


def _workers_counting(process: psutil.Process) -> int:
    """How many worker processes hold a counter file of the multiprocess metrics (each maps
    its own once it has counted an enqueue)."""
    counting = 0
    for child in process.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            maps = child.memory_maps(grouped=True)
            counting += any(re.search(r"/counter_\d+\.db$", m.path) for m in maps)
    return counting


def _enqueued_total(text: str) -> float:
    found = re.search(r'^taskrow_api_enqueued_tasks_total\{queue="spread"\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


@pytest.mark.parametrize("server", SERVERS)
def test_metrics_sum_the_enqueues_of_every_worker(
    db_url: str, tmp_path: Path, engine: Engine, make_key: MakeKey, server: str
) -> None:
    key = make_key()
    with engine.begin() as conn:
        operator = queue_core.create_operator_key(conn).token
    with running_server(db_url, tmp_path, server=server) as http:
        assert http.process is not None
        main = psutil.Process(http.process.pid)
        posted = 0

        def spread() -> bool:
            """Enqueue on fresh connections until both workers have counted some."""
            nonlocal posted
            for _ in range(10):
                answer = requests.post(
                    http.base + "/v1/tasks",
                    json={"task": "t", "queue": "spread"},
                    headers={**bearer(key), "Connection": "close"},
                    timeout=30,
                )
                assert answer.status_code == 202
                posted += 1
            return _workers_counting(main) >= 2

        wait_for(spread, timeout=60, what="enqueues counted in both workers")
        # whichever worker answers a scrape, it reports every worker's enqueues
        for _ in range(6):
            scrape = requests.get(
                http.base + "/metrics",
                headers={**bearer(operator), "Connection": "close"},
                timeout=30,
            )
            assert scrape.status_code == 200
            assert _enqueued_total(scrape.text) == posted


def test_granian_requests_carry_none_of_the_process_environment() -> None:
    seen: dict[str, object] = {}

    def app(environ: dict[str, object], start_response: object) -> list[bytes]:
        seen.update(environ)
        return []

    process = {
        "TASKROW_DATABASE_URL": "postgresql://u:password@db/x",
        "HTTP_PROXY": "http://proxy:3128",
        "SCRIPT_NAME": "",
    }
    served = cli_api.without_process_environment(app, process)
    # what granian hands over: a copy of the process environment, the request's keys on top
    environ = {**process, "REQUEST_METHOD": "GET", "PATH_INFO": "/healthz", "HTTP_HOST": "h"}
    served(environ, None)
    assert "TASKROW_DATABASE_URL" not in seen and "HTTP_PROXY" not in seen
    assert seen["REQUEST_METHOD"] == "GET" and seen["SCRIPT_NAME"] == ""
    assert seen["HTTP_HOST"] == "h"
    seen.clear()
    served({**process, "HTTP_PROXY": "sent-by-the-client"}, None)  # the request's own value
    assert seen["HTTP_PROXY"] == "sent-by-the-client"


def test_granian_binds_as_gunicorn_reads_bind() -> None:
    assert cli_api._granian_bind("0.0.0.0:8000") == {"address": "0.0.0.0", "port": 8000}
    assert cli_api._granian_bind("[::1]:9000") == {"address": "::1", "port": 9000}
    assert cli_api._granian_bind("unix:/run/taskrow.sock") == {"uds": Path("/run/taskrow.sock")}
    with pytest.raises(click.BadParameter):
        cli_api._granian_bind("8000")
