"""`taskrow dev`: the whole system on one machine, on an embedded Postgres unless one is given.

Starts (or reuses) the database, migrates it, makes sure a development API key exists, then
runs the HTTP API and one worker with the example handlers as child processes, and prints how
to try it. Ctrl-C (or SIGTERM) stops the children gracefully, then the embedded Postgres.
Children die with this process even if it is killed (PR_SET_PDEATHSIG), so nothing is orphaned.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator

import click
from sqlalchemy.engine import Engine

import queue_core
from queue_core import migrations

from .config import Settings
from .embedded import EmbeddedPostgres, EmbeddedPostgresError

EXAMPLES_APP = "taskrow.examples"
STOP_TIMEOUT = 20.0


@contextlib.contextmanager
def database(settings: Settings) -> Iterator[str]:
    """The configured database, or an embedded one whose data lives in ``settings.data_dir``."""
    if settings.database_url is not None:
        yield settings.database_url
        return
    server = EmbeddedPostgres(settings.data_dir / "postgres")
    click.echo(f"starting embedded PostgreSQL in {server.data_dir} ...")
    try:
        url = server.start()
    except EmbeddedPostgresError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        yield url
    finally:
        click.echo("stopping embedded PostgreSQL ...")
        server.stop()


def prepare(url: str, settings: Settings) -> str:
    """Migrate, and return a development API key (kept in the data folder, made once)."""
    engine = queue_core.create_engine(url, pool_size=1)
    try:
        migrations.upgrade(engine, schema=settings.schema)
        return _dev_key(engine, settings)
    except queue_core.TaskrowError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        engine.dispose()


def _dev_key(engine: Engine, settings: Settings) -> str:
    path = settings.data_dir / "dev-api-key"
    with engine.begin() as conn:
        if path.exists():
            token = path.read_text().strip()
            if queue_core.authenticate(conn, token, schema=settings.schema) is not None:
                return token
        created = queue_core.create_key(conn, name="taskrow dev", schema=settings.schema)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(created.token + "\n")
    path.chmod(0o600)
    return created.token


def dashboard_env(settings: Settings) -> dict[str, str]:
    """The dashboard over plain http on this machine: a secret key made once and kept in the
    data folder (logins survive restarts), and a session cookie that is not Secure (the
    explicit development-only setting). Values set in the environment win."""
    secret = os.environ.get("TASKROW_SECRET_KEY")
    if not secret:
        path = settings.data_dir / "dev-secret-key"
        if not path.exists():
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(32) + "\n")
        secret = path.read_text().strip()
    secure = os.environ.get("TASKROW_DASHBOARD_SECURE_COOKIE") or "off"
    return {"TASKROW_SECRET_KEY": secret, "TASKROW_DASHBOARD_SECURE_COOKIE": secure}


def _die_with_parent() -> None:
    """In the child, before exec: receive SIGTERM when the parent dies (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _spawn(
    args: list[str], url: str, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TASKROW_DATABASE_URL": url, **(extra_env or {})}
    # A process group of its own: the terminal's Ctrl-C reaches only us; we stop the children.
    return subprocess.Popen(
        [sys.executable, "-m", "taskrow.cli", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        process_group=0,
        preexec_fn=_die_with_parent,  # safe: this process runs no other thread yet
    )


def _wait_ready(base: str, child: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise click.ClickException(f"the API exited with code {child.returncode}")
        ready = f"{base}/readyz"
        with contextlib.suppress(OSError), urllib.request.urlopen(ready, timeout=1) as response:  # noqa: S310
            if response.status == 200:
                return
        time.sleep(0.2)
    raise click.ClickException(f"the API did not become ready at {base} in {timeout:.0f} s")


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _banner(base: str, token: str, url: str) -> str:
    curl = (
        f"curl -i -X POST {base}/v1/tasks -H 'Authorization: Bearer {token}' "
        "-H 'Content-Type: application/json' "
        '-d \'{"task": "examples.sleep", "args": {"seconds": 10}}\''
    )
    return "\n".join(
        [
            "",
            "taskrow is running:",
            f"  API        {base}/v1/tasks   (OpenAPI: {base}/openapi.json)",
            f"  dashboard  {base}/dashboard/   (log in with the API key below)",
            f"  database   {url}",
            f"  API key    {token}   (manage scope; kept in the data folder)",
            "",
            "Try it:",
            f"  {curl}",
            f"  then poll the Location it answers: curl -i {base}/v1/tasks/ID "
            f"-H 'Authorization: Bearer {token}'",
            "  or watch it:  TASKROW_DATABASE_URL=... taskrow watch ID",
            "",
            "Press Ctrl-C to stop.",
            "",
        ]
    )


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the API binds.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--concurrency", default=4, show_default=True, type=click.IntRange(1, 100))
def dev(host: str, port: int, concurrency: int) -> None:
    """Run taskrow locally: Postgres (embedded unless TASKROW_DATABASE_URL is set), the API and
    a worker with the example handlers. Ctrl-C stops everything."""
    settings = Settings.from_env()
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with database(settings) as url:
        token = prepare(url, settings)
        base = f"http://{host}:{port}"
        children = [
            _spawn(
                ["api", "--bind", f"{host}:{port}", "--workers", "1"],
                url,
                dashboard_env(settings),
            ),
            _spawn(["worker", "--app", EXAMPLES_APP, "--concurrency", str(concurrency)], url),
        ]
        try:
            _wait_ready(base, children[0])
            click.echo(_banner(base, token, url))
            while not stop.wait(0.5):
                if any(child.poll() is not None for child in children):
                    raise click.ClickException("a taskrow process exited; stopping")
        finally:
            click.echo("stopping the API and the worker ...")
            _stop(children)


commands: list[click.Command] = [dev]
