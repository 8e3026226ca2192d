"""CLI commands of the worker (`taskrow worker`).

Exit codes: 0 stopped cleanly (burst drained, or every in-flight task finished within the
grace period); 1 could not start (the app failed to load, bad configuration); 2 usage error;
3 stopped gracefully but unfinished tasks were released after the grace period;
128 + signal number when a second SIGTERM/SIGINT forced an immediate exit.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import sys
from types import FrameType

import click
from sqlalchemy.engine import Engine

import queue_core
from queue_core import migrations
from worker import (
    SUCCESS_LINES_PER_SECOND,
    AppError,
    Metrics,
    Registry,
    Worker,
    WorkerConfig,
    configure_logging,
    load_app,
)

from .config import Settings, lines_a_second

logger = logging.getLogger(__name__)


def _queues(value: str | None, registry: Registry) -> tuple[str, ...]:
    if value:
        return tuple(q.strip() for q in value.split(",") if q.strip())
    return tuple(registry.queues())


def _install_signals(runner: Worker) -> None:
    """First SIGTERM/SIGINT: graceful stop. Second: exit at once (leases expire normally)."""

    def handle(signum: int, _frame: FrameType | None) -> None:
        if runner.stopping:
            os._exit(128 + signum)
        runner.stop()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, handle)


def _serve_metrics(host: str, port: int) -> None:
    try:
        Metrics().serve(port, host)
    except OSError as exc:
        raise click.ClickException(f"cannot serve metrics on {host}:{port}: {exc}") from exc


def _check_schema(engine: Engine, schema: str) -> None:
    """Refuse to start on a database that was never migrated or is behind (exit 1). One that
    does not answer yet is waited for by the loop, as during any outage."""
    logging.getLogger("alembic").setLevel(logging.WARNING)  # its context's chatter at start
    try:
        migrations.require_current(engine, schema=schema)
    except queue_core.SchemaNotMigrated as exc:
        engine.dispose()
        raise click.ClickException(str(exc)) from exc
    except queue_core.DatabaseError as exc:
        logger.warning("worker.schema_unchecked error=%s", exc)


def _load(app: str) -> Registry:
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # like gunicorn: --app names a module of the project
    try:
        return load_app(app)
    except AppError as exc:
        raise click.ClickException(str(exc)) from exc


def _listen_url(settings: Settings, given: str | None, poll_only: bool) -> str | None:
    """Where to LISTEN: the given direct URL, else the database URL unless it goes through a
    transaction pooler (LISTEN needs a session of its own); None: poll only."""
    if poll_only:
        return None
    if given:
        return given
    if settings.pooler == "transaction":
        logger.info(
            "worker.poll_only reason=transaction_pooler fix=%s",
            "set TASKROW_LISTEN_URL to a direct URL to wake at once",
        )
        return None
    return settings.database_url


def _check_pooler(url: str, settings: Settings, listen_url: str | None) -> None:
    """Refuse an undeclared transaction pooler, and a LISTEN URL that leads through one (its
    notifications would go to whichever client the pooler hands that server next)."""
    try:
        # until the database answers: through an undeclared transaction pooler the worker's
        # outcomes would be refused at random, and its tasks run again
        queue_core.check_pooler(url, settings.pooler, wait=math.inf)
    except queue_core.PoolerMismatch as exc:
        raise click.ClickException(str(exc)) from exc
    if settings.pooler != "transaction" or listen_url is None:
        return
    try:
        pooled = queue_core.transaction_pooler_seen(listen_url)
    except queue_core.DatabaseUnavailable:
        return  # the listener retries by itself
    if pooled:
        raise click.ClickException(
            "TASKROW_LISTEN_URL leads through a transaction pooler too: LISTEN needs a session "
            "of its own; give a URL that reaches Postgres directly (or through session pooling)"
        )


@click.command("worker")
@click.option("--app", required=True, help="MODULE[:REGISTRY] holding the task handlers.")
@click.option("--queues", help="Comma-separated queues (default: the queues of the handlers).")
@click.option("--concurrency", type=click.IntRange(1, 1000), default=10, show_default=True)
@click.option(
    "--prefetch",
    type=click.IntRange(0, 3000),
    help="Tasks claimed beyond --concurrency while handlers are quick (under 50 ms on "
    "average); they wait in the worker for a slot. Default: 3 x --concurrency; 0: none.",
)
@click.option(
    "--pool", type=click.Choice(["thread", "process"]), default="thread", show_default=True
)
@click.option("--burst", is_flag=True, help="Drain the tasks that are due, then exit.")
@click.option("--poll-only", is_flag=True, help="No LISTEN (for PgBouncer transaction pooling).")
@click.option(
    "--listen-url",
    envvar="TASKROW_LISTEN_URL",
    help="A direct URL to Postgres for LISTEN wake-ups, when the database URL goes through a "
    "transaction pooler (TASKROW_POOLER=transaction); without it such a worker polls.",
)
@click.option("--poll-interval", type=click.FloatRange(0.01, 3600), default=1.0, show_default=True)
@click.option("--grace", type=click.FloatRange(0, 86400), default=30.0, show_default=True)
@click.option("--lease", type=click.FloatRange(1, 86400), default=30.0, show_default=True)
@click.option(
    "--max-tasks-per-child", type=click.IntRange(1), help="Process pool: recycle after N."
)
@click.option("--max-child-memory", type=click.IntRange(1), help="Process pool: recycle above MB.")
@click.option(
    "--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
    help="warning drops the per-task info lines (succeeded ...); debug adds task.claimed.",
)
@click.option(
    "--success-lines",
    default=str(SUCCESS_LINES_PER_SECOND),
    show_default=True,
    callback=lambda _ctx, _param, value: lines_a_second(value),
    metavar="N|all",
    help="task.succeeded lines a second at most; the successes beyond are counted in one "
    "task.succeeded_count line a second ('all': a line for every success).",
)
@click.option(
    "--async-commit",
    is_flag=True,
    envvar="TASKROW_ASYNC_COMMIT",
    help="Commit rounds (acknowledgements and claims) without waiting for the WAL flush: "
    "quicker, but after a Postgres crash a task already shown as succeeded may run again.",
)
@click.option("--metrics-port", type=click.IntRange(1, 65535), help="Serve Prometheus /metrics.")
@click.option(
    "--metrics-host",
    default="127.0.0.1",
    show_default=True,
    help="Address of --metrics-port (0.0.0.0: every interface, to be scraped remotely).",
)
def worker(
    app: str,
    queues: str | None,
    concurrency: int,
    prefetch: int | None,
    pool: str,
    burst: bool,
    poll_only: bool,
    listen_url: str | None,
    poll_interval: float,
    grace: float,
    lease: float,
    max_tasks_per_child: int | None,
    max_child_memory: int | None,
    log_format: str,
    log_level: str,
    success_lines: int | None,
    async_commit: bool,
    metrics_port: int | None,
    metrics_host: str,
) -> None:
    """Run a worker: lease tasks of QUEUES, run their handlers, record the outcomes."""
    settings = Settings.from_env()
    if settings.database_url is None:
        raise click.UsageError("no database: set TASKROW_DATABASE_URL (or DATABASE_URL)")
    configure_logging(log_format, getattr(logging, log_level.upper()))
    registry = _load(app)
    listen_url = _listen_url(settings, listen_url, poll_only)
    try:
        config = WorkerConfig(
            queues=_queues(queues, registry),
            concurrency=concurrency,
            prefetch=prefetch,
            success_lines=success_lines,
            pool="process" if pool == "process" else "thread",
            lease=lease,
            poll_interval=poll_interval,
            listen=listen_url is not None,
            burst=burst,
            grace=grace,
            schema=settings.schema,
            max_tasks_per_child=max_tasks_per_child,
            max_child_memory_mb=max_child_memory,
            durable=not async_commit,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    # No ping before each transaction: the worker's loop already backs off and retries any
    # statement that fails, and SQLAlchemy renews the whole pool on the first disconnect, so a
    # ping would only add a round trip to every batch (13 % of the loop in a profile).
    _check_pooler(settings.database_url, settings, listen_url)
    engine = queue_core.create_engine(
        settings.database_url,
        pool_size=concurrency + 2,
        max_overflow=concurrency,
        pre_ping=False,
        pooler=settings.pooler,
    )
    _check_schema(engine, settings.schema)
    if metrics_port is not None:
        _serve_metrics(metrics_host, metrics_port)
    runner = Worker(registry, engine, config, database_url=listen_url, app=app)
    _install_signals(runner)
    try:
        code = runner.run()
    except queue_core.InvalidTaskError as exc:  # e.g. a queue name the queue refuses
        raise click.UsageError(str(exc)) from exc
    finally:
        engine.dispose()
    sys.exit(code)


commands: list[click.Command] = [worker]
