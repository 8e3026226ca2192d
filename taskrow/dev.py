"""`taskrow dev`: the whole system on one machine, on an embedded Postgres unless one is given."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

import click

import queue_core
from queue_core import migrations

from .config import Settings
from .embedded import EmbeddedPostgres, EmbeddedPostgresError


@contextlib.contextmanager
def database(settings: Settings) -> Iterator[str]:
    """The configured database, or an embedded one kept in ``settings.data_dir``."""
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


def demonstrate(url: str, schema: str) -> None:
    """Take one task through enqueue -> claim -> complete, printing each step."""
    engine = queue_core.create_engine(url, pool_size=1)
    try:
        with engine.begin() as conn:
            task = queue_core.enqueue(conn, "demo.hello", {"name": "taskrow"}, schema=schema)
        click.echo(f"enqueued  {task.id}  state={task.state}")
        with engine.begin() as conn:
            [claimed] = queue_core.claim(conn, ["default"], 1, worker_id="dev-demo", schema=schema)
        click.echo(f"claimed   {claimed.id}  state={claimed.state} attempt={claimed.attempts}")
        with engine.begin() as conn:
            queue_core.complete(conn, claimed.lease, {"greeting": "hello, taskrow"}, schema=schema)
        with engine.connect() as conn:
            done = queue_core.get(conn, task.id, schema=schema)
        click.echo(f"completed {done.id}  state={done.state} result={done.result}")
    finally:
        engine.dispose()


@click.command()
def dev() -> None:
    """Run taskrow locally: embedded Postgres (unless TASKROW_DATABASE_URL is set), migrated."""
    settings = Settings.from_env()
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with database(settings) as url:
        engine = queue_core.create_engine(url, pool_size=1)
        try:
            migrations.upgrade(engine, schema=settings.schema)
        finally:
            engine.dispose()
        click.echo(f"database ready: {url} (schema {settings.schema})")
        demonstrate(url, settings.schema)
        click.echo("running; press Ctrl-C to stop")
        stop.wait()
