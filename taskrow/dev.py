"""`taskrow dev`: the whole system on one machine, on an embedded Postgres unless one is given.

Locks the data folder (one `taskrow dev` per folder), checks that the API's port is free,
starts (or reuses) the database, migrates it, makes sure a development API key exists, then
runs the HTTP API and one worker with the example handlers as child processes, and prints how
to try it once the API answers. Ctrl-C (or SIGTERM) stops the children gracefully, then the
embedded Postgres if this command (or an earlier one on the folder, since killed) started it.
Children die with this process even if it is killed (PR_SET_PDEATHSIG); the embedded Postgres
does not, and the next `taskrow dev` on the folder takes it over.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import fcntl
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import click
import psutil
from sqlalchemy.engine import Engine, make_url

import queue_core
from queue_core import migrations

from .config import Settings
from .embedded import EmbeddedPostgres, EmbeddedPostgresError, port_is_free

EXAMPLES_APP = "taskrow.examples"
STOP_TIMEOUT = 20.0
LOCK_FILE = "dev.lock"


@dataclasses.dataclass
class Instance:
    """What the lock file says about the `taskrow dev` holding this data folder."""

    pid: int
    api: str
    database: str | None = None
    postgres_pid: int | None = None

    @classmethod
    def read(cls, text: str) -> Instance | None:
        try:
            fields = json.loads(text)
            return cls(**fields) if isinstance(fields, dict) else None
        except (ValueError, TypeError):
            return None


@contextlib.contextmanager
def lock(settings: Settings, api: str) -> Iterator[Callable[[Instance], None]]:
    """Hold an exclusive lock on the data folder for the life of this command.

    Yields a function that records this instance in the lock file (read by a second
    `taskrow dev`, which refuses to start, and by the next one, which learns which Postgres
    the previous one started). Another holder is a clear error, exit code 1.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.data_dir / LOCK_FILE
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise click.ClickException(_held(settings, Instance.read(handle.read()))) from None
        handle.seek(0)
        previous = Instance.read(handle.read())

        def record(instance: Instance) -> None:
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps(dataclasses.asdict(instance)) + "\n")
            handle.flush()

        record(Instance(pid=os.getpid(), api=api, postgres_pid=_pid(previous)))
        yield record


def _pid(instance: Instance | None) -> int | None:
    return None if instance is None else instance.postgres_pid


def _held(settings: Settings, holder: Instance | None) -> str:
    where = f"the data folder {settings.data_dir}"
    if holder is None:
        return f"another taskrow dev is running on {where}; stop it first"
    lines = [
        f"another taskrow dev is running on {where} (pid {holder.pid}, API {holder.api}"
        + (f", database {holder.database})" if holder.database else ")"),
        f"stop it first (Ctrl-C in its terminal, or kill {holder.pid}), or run this one on "
        "its own data folder and port: TASKROW_DATA_DIR=.taskrow-2 taskrow dev --port 8001",
    ]
    return "\n".join(lines)


@contextlib.contextmanager
def database(settings: Settings, record: Callable[[Instance], None], api: str) -> Iterator[str]:
    """The configured database, or an embedded one whose data lives in ``settings.data_dir``.

    The embedded server is stopped at exit if this command started it, or if an earlier
    `taskrow dev` on this folder started it and was killed before it could stop it (the lock
    file names its pid). A server someone else started on the folder is used and left running.
    """
    if settings.database_url is not None:
        record(Instance(pid=os.getpid(), api=api, database=_hide(settings.database_url)))
        yield settings.database_url
        return
    server = EmbeddedPostgres(settings.data_dir / "postgres")
    where = f"{server.data_dir} (linked from {server.link})" if server.relocated else server.link
    click.echo(f"starting embedded PostgreSQL in {where} ...")
    remembered = server.port
    previous = _previous_postgres(settings)
    try:
        url = server.start()
    except EmbeddedPostgresError as exc:
        raise click.ClickException(str(exc)) from exc
    pid = server.server_pid()
    ours = server.started or (pid is not None and pid == previous)
    if not server.started:
        click.echo(
            f"PostgreSQL was already running on this folder (pid {pid}): "
            + (
                "left by an earlier taskrow dev; it is stopped at exit"
                if ours
                else "started by someone else; it is left running at exit"
            )
        )
    elif server.port != remembered:
        click.echo(f"port {remembered} is taken: PostgreSQL listens on {server.port} now")
    record(Instance(pid=os.getpid(), api=api, database=url, postgres_pid=pid if ours else None))
    try:
        yield url
    finally:
        if ours:
            click.echo("stopping embedded PostgreSQL ...")
            server.stop()


def _previous_postgres(settings: Settings) -> int | None:
    with contextlib.suppress(OSError):
        return _pid(Instance.read((settings.data_dir / LOCK_FILE).read_text()))
    return None


def _hide(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


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


def _wait_ready(
    base: str, child: subprocess.Popen[bytes], port: int, timeout: float = 30.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise click.ClickException(f"the API exited with code {child.returncode}")
        ready = f"{base}/readyz"
        with contextlib.suppress(OSError), urllib.request.urlopen(ready, timeout=1) as response:  # noqa: S310
            if response.status == 200 and _listens(child, port):
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


def _listens(child: subprocess.Popen[bytes], port: int) -> bool:
    """Whether ``child`` itself listens on ``port`` (so /readyz was answered by it)."""
    with contextlib.suppress(psutil.Error):
        for conn in psutil.Process(child.pid).net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                return True
    return False


def _command_name() -> str:
    """How to call `taskrow` from here: the script beside this Python, relative when under
    the current folder (``.venv/bin/taskrow``), else plain ``taskrow``."""
    script = Path(sys.executable).parent / "taskrow"
    if not script.exists():
        return "taskrow"
    with contextlib.suppress(ValueError):
        return str(script.relative_to(Path.cwd()))
    return str(script)


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
            f"  or watch it: TASKROW_DATABASE_URL={url} {_command_name()} watch ID",
            "",
            "Press Ctrl-C to stop.",
            "",
        ]
    )


def _check_port(host: str, port: int) -> None:
    if not port_is_free(port, host):
        raise click.ClickException(
            f"port {port} on {host} is in use by another program: choose another with "
            f"`taskrow dev --port {port + 1}` (or `make run PORT={port + 1}`)"
        )


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the API binds.")
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="Port of the API (`make run PORT=8001`).",
)
@click.option("--concurrency", default=4, show_default=True, type=click.IntRange(1, 100))
def dev(host: str, port: int, concurrency: int) -> None:
    """Run taskrow locally: Postgres (embedded unless TASKROW_DATABASE_URL is set), the API and
    a worker with the example handlers. Ctrl-C stops everything.

    One `taskrow dev` at a time per data folder (TASKROW_DATA_DIR, default .taskrow): a
    second one says which process holds it and exits with code 1."""
    settings = Settings.from_env()
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    base = f"http://{host}:{port}"
    with lock(settings, base) as record:
        _check_port(host, port)
        with database(settings, record, base) as url:
            _serve(url, settings, host, port, concurrency, stop)


def _serve(
    url: str, settings: Settings, host: str, port: int, concurrency: int, stop: threading.Event
) -> None:
    base = f"http://{host}:{port}"
    token = prepare(url, settings)
    children = [
        _spawn(
            ["api", "--bind", f"{host}:{port}", "--workers", "1"],
            url,
            dashboard_env(settings),
        ),
        _spawn(["worker", "--app", EXAMPLES_APP, "--concurrency", str(concurrency)], url),
    ]
    try:
        _wait_ready(base, children[0], port)
        click.echo(_banner(base, token, url))
        while not stop.wait(0.5):
            if any(child.poll() is not None for child in children):
                raise click.ClickException("a taskrow process exited; stopping")
    finally:
        click.echo("stopping the API and the worker ...")
        _stop(children)


commands: list[click.Command] = [dev]
