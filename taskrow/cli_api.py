"""CLI commands of the HTTP API (`taskrow api`, `taskrow keys`)."""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import functools
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from gunicorn.app.base import BaseApplication
from rich.text import Text
from sqlalchemy.engine import Connection

import queue_core
from queue_core import migrations

from .config import Settings, lines_a_second
from .ops import render

if TYPE_CHECKING:
    import api

commands: list[click.Command] = []

ALL_SCOPES = queue_core.SCOPES


class ConfigurationError(click.ClickException):
    """A setting the API cannot start with, found before gunicorn starts: one line, exit 2."""

    exit_code = 2


class _Server(BaseApplication):  # type: ignore[misc]
    """gunicorn serving ``api.create_app``, built in each worker after the fork (own pool)."""

    def __init__(self, options: dict[str, Any], settings: api.ApiSettings) -> None:
        self._options = options
        self._settings = settings
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        import api

        return api.create_app(self._settings)


def _metrics_across_workers() -> None:
    """Make the API's Prometheus counters sum over all gunicorn workers: prometheus_client
    reads PROMETHEUS_MULTIPROC_DIR when first imported, so this runs before ``import api``."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    folder = tempfile.mkdtemp(prefix="taskrow-api-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
    master = os.getpid()

    def remove() -> None:  # forked workers inherit this hook: only the master removes
        if os.getpid() == master:
            shutil.rmtree(folder, ignore_errors=True)

    atexit.register(remove)


SERVERS = ("gunicorn", "granian")


@click.command("api")
@click.option(
    "--bind", default="127.0.0.1:8000", show_default=True, help="HOST:PORT (or unix:PATH) to serve."
)
@click.option(
    "--server",
    type=click.Choice(SERVERS),
    default="gunicorn",
    show_default=True,
    help="The WSGI server: gunicorn (gthread workers) or granian (Rust HTTP, blocking "
    "threads); the same app, logs, metrics and shutdown either way.",
)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--threads",
    default=16,
    show_default=True,
    type=click.IntRange(1, 256),
    help="Threads per worker (long polls hold a thread, never a database connection).",
)
@click.option(
    "--worker-connections",
    default=1000,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="gunicorn: keep-alive connections a worker holds at most; beyond, the others accept "
    "them. granian: connections a worker serves at once (its backpressure).",
)
@click.option(
    "--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
    help="warning drops the per-request info lines (api.enqueued ...).",
)
@click.option(
    "--enqueued-lines",
    default=None,
    metavar="N|all",
    help="api.enqueued lines a second per worker at most; the tasks beyond are counted in one "
    "api.enqueued_count line a second ('all': a line for every task). Default: "
    "TASKROW_ENQUEUED_LINES, else 100.",
)
def serve(
    bind: str,
    server: str,
    workers: int,
    threads: int,
    worker_connections: int,
    log_format: str,
    log_level: str,
    enqueued_lines: str | None,
) -> None:
    """Serve the HTTP API with gunicorn (gthread workers) or granian (WSGI, blocking threads).

    Each worker process builds its own app and connection pool after the fork; SIGTERM stops
    accepting, lets the requests in flight finish (10 s at most) and exits."""
    _metrics_across_workers()
    import api

    try:
        settings = api.ApiSettings.from_mapping(os.environ)
    except (api.SettingsError, queue_core.InvalidTaskError) as exc:
        raise ConfigurationError(str(exc)) from exc
    if enqueued_lines is not None:
        settings = dataclasses.replace(settings, enqueued_lines=lines_a_second(enqueued_lines))
    if settings.database_url is None:
        raise click.UsageError("no database: set TASKROW_DATABASE_URL (or DATABASE_URL)")
    try:
        queue_core.check_pooler(settings.database_url, settings.pooler)
    except queue_core.PoolerMismatch as exc:
        raise click.ClickException(str(exc)) from exc
    _check_schema(settings.database_url, settings.schema)
    # Long polls may hold at most half the threads, so enqueues always find one free.
    waiting = min(settings.max_waiting_requests, threads // 2)
    settings = dataclasses.replace(settings, max_waiting_requests=waiting)
    if server == "granian":
        _serve_granian(bind, workers, threads, worker_connections, log_format, log_level, settings)
        return
    options = {
        "bind": bind,
        "workers": workers,
        "threads": threads,
        "worker_connections": worker_connections,
        "worker_class": "gthread",
        "timeout": 60,  # above the longest long poll (30 s)
        "graceful_timeout": GRACEFUL_SECONDS,
        "accesslog": "-",
        "loglevel": log_level,
        "logconfig_dict": _logging(log_format, log_level),
        "control_socket_disable": True,  # one shared path per user: several servers would clash
    }
    _Server(options, settings).run()


GRACEFUL_SECONDS = 10
#: granian's access line, in gunicorn's order (client, time, request line, status, duration).
GRANIAN_ACCESS = (
    '%(addr)s - - [%(time)s] "%(method)s %(path)s %(protocol)s" %(status)d %(dt_ms).3fms'
)


def _serve_granian(
    bind: str,
    workers: int,
    threads: int,
    connections: int,
    log_format: str,
    log_level: str,
    settings: api.ApiSettings,
) -> None:
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces
    from granian.log import LogLevels

    where = _granian_bind(bind)
    config = _logging(log_format, log_level)
    config["loggers"] = {
        "_granian": {"level": log_level.upper(), "handlers": [], "propagate": True},
        # the access log on stdout, as under gunicorn
        "granian.access": {"level": log_level.upper(), "handlers": ["stdout"], "propagate": False},
    }
    Granian(
        "api:create_app",
        **where,
        interface=Interfaces.WSGI,
        http=HTTPModes.http1,  # as gunicorn: HTTP/1.1 only
        workers=workers,
        blocking_threads=threads,
        backpressure=connections,
        log_level=LogLevels(log_level),
        log_dictconfig=config,
        log_access=True,
        log_access_format=GRANIAN_ACCESS,
        workers_kill_timeout=GRACEFUL_SECONDS,
        respawn_failed_workers=True,
    ).serve(target_loader=functools.partial(_granian_app, settings), wrap_loader=False)


def _granian_app(settings: api.ApiSettings) -> Any:
    """Run in each granian worker after the fork: its own app, its own pool."""
    import api

    return without_process_environment(api.create_app(settings), dict(os.environ))


#: What PEP 3333 requires of every environ: never taken away, whatever the process holds.
_WSGI_KEYS = frozenset(
    {
        "REQUEST_METHOD",
        "SCRIPT_NAME",
        "PATH_INFO",
        "QUERY_STRING",
        "CONTENT_TYPE",
        "CONTENT_LENGTH",
        "SERVER_NAME",
        "SERVER_PORT",
        "SERVER_PROTOCOL",
    }
)


def without_process_environment(app: Any, process: dict[str, str]) -> Any:
    """``app`` with each request's environ rid of the process's environment variables.

    granian starts every request's environ from a copy of ``os.environ``, so the database URL
    (its password too), TASKROW_SECRET_KEY and whatever else the process was given would sit
    in every request, where an error reporter or a debugging aid could show them; and a
    variable named like a header (``HTTP_PROXY``) would pass for one the client sent. A value
    the request itself carries under the same name, different from the process's, stays.
    """
    inherited = tuple(
        (key, value)
        for key, value in process.items()
        if key not in _WSGI_KEYS and not key.startswith("wsgi.")
    )

    def serve(environ: dict[str, Any], start_response: Any) -> Any:
        for key, value in inherited:
            if environ.get(key) == value:
                del environ[key]
        return app(environ, start_response)

    return serve


def _granian_bind(bind: str) -> dict[str, Any]:
    """granian's address, port or unix socket for ``--bind`` as gunicorn reads it
    (``HOST:PORT``, ``[::1]:PORT`` or ``unix:PATH``)."""
    if bind.startswith("unix:"):
        return {"uds": Path(bind.removeprefix("unix:"))}
    host, sep, port = bind.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise click.BadParameter(f"{bind!r}: write HOST:PORT or unix:PATH", param_hint="--bind")
    return {"address": host.strip("[]"), "port": int(port)}


def _logging(fmt: str, level: str) -> dict[str, Any]:
    """The logging configuration gunicorn applies in its master (its forked workers inherit
    it): the worker's text or JSON lines, on stderr for the app and gunicorn, on stdout for
    the access log; each app line during a request ends in its request id."""
    import api
    import worker

    worker.configure_logging(fmt, getattr(logging, level.upper()))  # and its cheaper records
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"taskrow": {"()": functools.partial(worker.log_formatter, fmt)}},
        "filters": {"request_id": {"()": api.RequestIdFilter}},
        "handlers": {
            stream: {
                "class": "logging.StreamHandler",
                "stream": f"ext://sys.{stream}",
                "formatter": "taskrow",
                "filters": ["request_id"],
            }
            for stream in ("stderr", "stdout")
        },
        "root": {"level": level.upper(), "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": level.upper(), "handlers": [], "propagate": True},
            # the access log stays on stdout, as gunicorn writes it
            "gunicorn.access": {"level": level.upper(), "handlers": ["stdout"], "propagate": False},
        },
    }


def _check_schema(url: str, schema: str) -> None:
    """Refuse to serve a database that was never migrated or is behind (exit 1); one that does
    not answer yet is served anyway (requests get 503 until it does, /readyz tells)."""
    engine = queue_core.create_engine(url, pool_size=1)
    try:
        migrations.require_current(engine, schema=schema)
    except queue_core.SchemaNotMigrated as exc:
        raise click.ClickException(str(exc)) from exc
    except queue_core.DatabaseError as exc:
        click.echo(f"warning: cannot check the database's schema yet: {exc}", err=True)
    finally:
        engine.dispose()


@click.group("keys")
def keys() -> None:
    """Create, list and revoke API keys (only a hash of each key is stored)."""


@keys.command("create")
@click.option(
    "--tenant", default=None, help=f"The key's tenant [default: {queue_core.DEFAULT_TENANT}]."
)
@click.option(
    "--admin",
    is_flag=True,
    help="An operator key: no tenant, the admin scope alone (for /metrics and the dashboard's "
    "Tenants page); it sees no tenant's tasks.",
)
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(ALL_SCOPES),
    help="Repeat for several; default: all three.",
)
@click.option("--queue", "queues", multiple=True, help="Allowed queue; repeat; default: all.")
@click.option("--name", default=None, help="A label to recognise the key by.")
def create(
    tenant: str | None,
    admin: bool,
    scopes: tuple[str, ...],
    queues: tuple[str, ...],
    name: str | None,
) -> None:
    """Create a key and print it once: it cannot be shown again."""
    if admin and (tenant is not None or scopes or queues):
        raise click.UsageError(
            "--admin makes an operator key: give no --tenant, --scope or --queue"
        )
    with _connection() as conn:
        if admin:
            created = queue_core.create_operator_key(conn, name=name, schema=_settings().schema)
        else:
            created = queue_core.create_key(
                conn,
                tenant=tenant or queue_core.DEFAULT_TENANT,
                scopes=scopes or ALL_SCOPES,
                queues=queues or None,
                name=name,
                schema=_settings().schema,
            )
    click.echo(created.token)
    click.echo(
        f"key {created.key.id} tenant={created.key.tenant or '-'}"
        f" scopes={','.join(created.key.scopes)}",
        err=True,
    )


@keys.command("list")
@click.option("--tenant", default=None, help="Only this tenant's keys.")
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked keys.")
def list_(tenant: str | None, include_revoked: bool) -> None:
    """List keys (ids, tenants, scopes, queues; never the secrets)."""
    with _connection() as conn:
        found = queue_core.list_keys(
            conn, tenant=tenant, include_revoked=include_revoked, schema=_settings().schema
        )
    if not found:
        click.echo("no keys")
        return
    rows = [
        [
            Text(key.id),
            Text(key.tenant or "-"),
            Text(",".join(key.scopes)),
            Text(",".join(key.queues) if key.queues is not None else "*"),
            Text(key.name or "-"),
            Text(render.when(key.created_at)),
            Text(render.when(key.revoked_at), style="red" if key.revoked_at else ""),
        ]
        for key in found
    ]
    headers = ["ID", "TENANT", "SCOPES", "QUEUES", "NAME", "CREATED", "REVOKED"]
    render.show(render.table(headers, rows))


@keys.command("revoke")
@click.argument("key_id", metavar="KEY_ID_OR_KEY")
def revoke(key_id: str) -> None:
    """Revoke a key by its id (the 16 hex digits after ``trk_``) or by the whole key; it stops
    working at once. Only the id is ever printed."""
    with _connection() as conn:
        key = queue_core.revoke_key(conn, key_id, schema=_settings().schema)
    click.echo(f"revoked {key.id}")


@click.group("limits")
def limits() -> None:
    """Per-tenant limits: a tenant's own queue depth limit instead of the API's default
    (TASKROW_QUEUE_DEPTH_LIMIT; tenants' limits apply only while that default is set)."""


@limits.command("set")
@click.argument("tenant")
@click.option(
    "--queue-depth",
    required=True,
    help="Queued tasks per queue this tenant may hold (an integer), or 'none' for no limit.",
)
def limits_set(tenant: str, queue_depth: str) -> None:
    """Give TENANT its own queue depth limit."""
    if queue_depth.strip().lower() == "none":
        value = None
    elif queue_depth.strip().isdigit():
        value = int(queue_depth)
    else:
        raise click.BadParameter("an integer, or 'none'", param_hint="--queue-depth")
    with _connection() as conn:
        found = queue_core.set_tenant_limit(
            conn, tenant, queue_depth_limit=value, schema=_settings().schema
        )
    click.echo(_limit_line(found))


@limits.command("clear")
@click.argument("tenant")
def limits_clear(tenant: str) -> None:
    """Return TENANT to the default limit."""
    with _connection() as conn:
        cleared = queue_core.clear_tenant_limit(conn, tenant, schema=_settings().schema)
    click.echo(f"tenant {tenant}: default limit" + ("" if cleared else " (it had none of its own)"))


@limits.command("list")
def limits_list() -> None:
    """Tenants with limits of their own."""
    with _connection() as conn:
        found = queue_core.list_tenant_limits(conn, schema=_settings().schema)
    for entry in found:
        click.echo(_limit_line(entry))


def _limit_line(entry: queue_core.TenantLimit) -> str:
    depth = "none" if entry.queue_depth_limit is None else entry.queue_depth_limit
    return f"tenant {entry.tenant}: queue_depth={depth}  updated={entry.updated_at.isoformat()}"


@contextlib.contextmanager
def _connection() -> Iterator[Connection]:
    """A committed transaction on the configured database; errors become one-line messages."""
    url = _settings().database_url
    if url is None:
        raise click.UsageError("no database: set TASKROW_DATABASE_URL (or DATABASE_URL)")
    engine = queue_core.create_engine(url, pool_size=1, pooler=_settings().pooler)
    try:
        with queue_core.transaction(engine) as conn:
            yield conn
    except queue_core.TaskrowError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        engine.dispose()


def _settings() -> Settings:
    obj = click.get_current_context().find_object(object)
    settings = getattr(obj, "settings", None)
    return settings if isinstance(settings, Settings) else Settings.from_env()


commands += [serve, keys, limits]
