"""The Postgres under test: TASKROW_DATABASE_URL's server, or an embedded one for the run.

Every measurement runs in a database of its own, created fresh on that server (so a run never
touches the data of the database the URL names, only its server).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

import queue_core
from queue_core import migrations

from ..embedded import EmbeddedPostgres
from . import sql

_created: list[str] = []  # databases made by this run, dropped when it ends
_RUN = f"{os.getpid()}"


@contextlib.contextmanager
def server(database_url: str | None) -> Iterator[str]:
    """The server URL to benchmark on. The databases a run creates are dropped at its end; an
    embedded server is stopped and removed."""
    if database_url is not None:
        try:
            yield database_url
        finally:
            while _created:
                name = _created.pop()
                with contextlib.suppress(SQLAlchemyError):  # the server may be gone: keep the cause
                    sql.drop_database(database_url, name)
        return
    folder = Path(tempfile.mkdtemp(prefix="taskrow-bench-pg-"))
    embedded = EmbeddedPostgres(folder / "data")
    try:
        yield embedded.start()
    finally:
        embedded.remove()
        shutil.rmtree(folder, ignore_errors=True)


def database(server_url: str, name: str) -> str:
    """The URL of a new empty database for ``name`` on the server (unique to this run)."""
    name = f"{name}_{_RUN}"
    sql.recreate_database(server_url, name)
    if name not in _created:
        _created.append(name)
    named = queue_core.engine_url(server_url).set(database=name)
    return named.render_as_string(hide_password=False)


def queue_database(server_url: str, name: str, *, schema: str) -> str:
    """A fresh database ``name`` migrated to the head revision; returns its URL."""
    url = database(server_url, name)
    engine = queue_core.create_engine(url, pool_size=1)
    try:
        migrations.upgrade(engine, schema=schema)
    finally:
        engine.dispose()
    return url


def libpq_env(url: str) -> dict[str, str]:
    """PGHOST/PGPORT/PGUSER/PGDATABASE (and PGPASSWORD) for psql and pgbench."""
    parts = queue_core.engine_url(url)  # several hosts: comma-separated, as libpq takes them
    env = {
        "PGHOST": parts.host or str(parts.query.get("host") or "127.0.0.1"),
        "PGPORT": str(parts.port or parts.query.get("port") or 5432),
        "PGUSER": parts.username or "postgres",
        "PGDATABASE": parts.database or "postgres",
    }
    if parts.password:
        env["PGPASSWORD"] = parts.password
    return env


def plain_url(url: str) -> str:
    """``postgresql://`` form of the URL (no SQLAlchemy driver suffix), for other clients."""
    plain = queue_core.engine_url(url).set(drivername="postgresql")
    return plain.render_as_string(hide_password=False)
