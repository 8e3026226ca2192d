"""``enqueue-http``: ``POST /v1/tasks`` on ``taskrow api`` (gunicorn or granian) under ``wrk``,
beside a minimal Flask endpoint enqueueing into RQ on Redis.

Each side is measured at every server layout of its search: ``WxT`` is W gunicorn workers of
T gthread threads, ``Wxsync`` W sync workers (how teams usually serve a Flask app; ``taskrow
api`` serves gthread only), ``granian:WxT`` W granian workers of T blocking threads (WSGI).
Access log on (discarded), each app in its own processes, each worker holding at most its
share of wrk's keep-alive connections (gunicorn's ``worker_connections``, granian's
backpressure): otherwise whichever worker wakes first accepts most of them and the figures
measure that luck. ``wrk`` (Debian's, installed with apt-get when missing and run as
root) is the load generator, another process. taskrow's requests carry an API key and a unique
Idempotency-Key and each commits durably; the RQ endpoint does none of that.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass

import queue_core

from . import procs
from .peers import BENCHMARKS, PEERS, VENV, venv_python
from .server import queue_database

REDIS_URL = "redis://127.0.0.1:6379/0"


SERVERS = ("gunicorn", "granian")


@dataclass(frozen=True)
class ServerLayout:
    """W gunicorn workers with T gthread threads each, or (``threads`` 0) W sync workers; or
    (``server`` granian) W granian workers with T blocking threads each."""

    workers: int
    threads: int
    server: str = "gunicorn"

    @classmethod
    def parse(cls, text: str) -> ServerLayout:
        server, _, shape = text.lower().rpartition(":")
        workers, _, threads = shape.partition("x")
        rule = "write [granian:]WORKERSxTHREADS or WORKERSxsync, e.g. 4xsync or granian:2x8"
        if server not in ("", *SERVERS):
            raise ValueError(f"server layout {text!r}: {rule}")
        try:
            layout = cls(
                int(workers), 0 if threads == "sync" else int(threads), server or "gunicorn"
            )
        except ValueError:
            raise ValueError(f"server layout {text!r}: {rule}") from None
        if layout.workers < 1 or layout.threads < 0:
            raise ValueError(f"server layout {text!r}: at least one worker")
        if layout.server == "granian" and not layout.threads:
            raise ValueError(f"server layout {text!r}: granian serves threads, e.g. granian:2x8")
        return layout

    def __str__(self) -> str:
        shape = f"{self.workers}x{self.threads or 'sync'}"
        return shape if self.server == "gunicorn" else f"{self.server}:{shape}"

    def connections_per_worker(self, connections: int) -> int:
        return -(-connections // self.workers)  # together they hold them all

    def gunicorn_options(self, connections: int) -> list[str]:
        options = ["-w", str(self.workers)]
        if self.threads:
            per_worker = self.connections_per_worker(connections)
            options += ["-k", "gthread", "--threads", str(self.threads)]
            options += ["--worker-connections", str(per_worker)]
        return options


@dataclass(frozen=True)
class Load:
    connections: int
    seconds: int


def taskrow_http(
    server_url: str,
    layout: ServerLayout,
    load: Load,
    *,
    schema: str,
    env: dict[str, str] | None = None,
) -> dict[str, float]:
    if not layout.threads:
        raise procs.BenchError("taskrow api serves gthread workers only: write WxT, e.g. 2x16")
    url = queue_database(server_url, "taskrow_bench_http", schema=schema)
    token = _api_key(url, schema)
    port = procs.free_port()
    command = [sys.executable, "-m", "taskrow.cli", "api", "--bind", f"127.0.0.1:{port}"]
    command += ["--server", layout.server]
    command += ["--workers", str(layout.workers), "--threads", str(layout.threads)]
    command += ["--worker-connections", str(layout.connections_per_worker(load.connections))]
    env = {"TASKROW_DATABASE_URL": url, "TASKROW_SCHEMA": schema, **(env or {})}
    with procs.running([command], env) as servers:
        procs.wait_until(lambda: procs.port_open(port), 60, "taskrow api to listen", watch=servers)
        figures = wrk(port, load, token=token)
        procs.check_alive(servers, "taskrow api")
    return figures


def rq_http(layout: ServerLayout, load: Load) -> dict[str, float]:
    venv_python()
    with _redis():
        port = procs.free_port()
        if layout.server == "granian":
            command = [str(VENV / "bin" / "granian"), "--interface", "wsgi", "--http", "1"]
            command += ["--host", "127.0.0.1", "--port", str(port), "--working-dir", str(PEERS)]
            command += ["--workers", str(layout.workers)]
            command += ["--blocking-threads", str(layout.threads)]
            command += ["--backpressure", str(layout.connections_per_worker(load.connections))]
            command += ["--access-log", "rq_app:app"]
        else:
            command = [str(VENV / "bin" / "gunicorn"), "--chdir", str(PEERS)]
            command += ["-b", f"127.0.0.1:{port}", *layout.gunicorn_options(load.connections)]
            command += ["--access-logfile", "-", "rq_app:app"]
        with procs.running([command], {"REDIS_URL": REDIS_URL}) as servers:
            procs.wait_until(
                lambda: procs.port_open(port), 60, "the RQ endpoint to listen", watch=servers
            )
            figures = wrk(port, load, token=None)
            procs.check_alive(servers, "the RQ endpoint")
    return figures


def wrk(port: int, load: Load, *, token: str | None) -> dict[str, float]:
    """Run wrk on ``POST /v1/tasks`` at ``port``; its figures (JSON printed by post.lua)."""
    env = {
        **os.environ,
        "TASKROW_BENCH_TOKEN": token or "",
        "TASKROW_BENCH_IDEMPOTENCY": "1" if token else "0",
        "TASKROW_BENCH_RUN": uuid.uuid4().hex[:8],
    }
    command = [_wrk_binary(), "-t", "2", "-c", str(load.connections), "-d", f"{load.seconds}s"]
    command += ["-s", str(BENCHMARKS / "post.lua"), f"http://127.0.0.1:{port}/v1/tasks"]
    result = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=load.seconds + 60, check=False
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        raise procs.BenchError(f"wrk failed: {(result.stderr or result.stdout).strip()[-300:]}")
    figures: dict[str, float] = json.loads(lines[-1])
    return figures


def _api_key(url: str, schema: str) -> str:
    engine = queue_core.create_engine(url, pool_size=1)
    try:
        with engine.begin() as conn:
            created = queue_core.create_key(conn, name="bench", schema=schema)
    finally:
        engine.dispose()
    return created.token


def _wrk_binary() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "wrk"],
            capture_output=True,
            check=False,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        found = shutil.which("wrk")
    if not found:
        raise procs.BenchError("wrk is needed: install Debian's wrk (apt-get install wrk)")
    return found


class _redis:
    """Redis at 127.0.0.1:6379: the one answering there, else a redis-server started for the
    run (stopped after it)."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> None:
        if procs.port_open(6379):
            return
        server = shutil.which("redis-server")
        if server is None:
            raise procs.BenchError("no Redis on 127.0.0.1:6379 and no redis-server to start")
        self._proc = subprocess.Popen(
            [server, "--port", "6379", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        procs.wait_until(lambda: procs.port_open(6379), 30, "redis-server to listen")

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            procs.stop(self._proc)
