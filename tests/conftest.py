"""Fixtures shared by every test: a real Postgres and a fresh database per test.

The server is the one named by TASKROW_TEST_DATABASE_URL, or else an embedded Postgres started
for the session in a temporary folder (run as root, its data lives in the service folder of
taskrow.embedded), removed at the end. A template database is migrated once; each test gets its
own database cloned from it (CREATE DATABASE ... TEMPLATE), dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

import queue_core
from queue_core import migrations

from .support import PostgresServer, database_url, embedded_server


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """The Postgres server for this session (given, or embedded and started here)."""
    given = os.environ.get("TASKROW_TEST_DATABASE_URL")
    if given:
        yield PostgresServer(url=given, embedded=None)
        return
    with embedded_server("taskrow-test-pg-") as server:
        yield PostgresServer(url=server.url, embedded=server)


@pytest.fixture(scope="session")
def template_db(pg_server: PostgresServer) -> Iterator[str]:
    """A database migrated to head, cloned for each test."""
    name = f"taskrow_template_{os.getpid()}"
    _admin(pg_server.url, f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
    engine = queue_core.create_engine(database_url(pg_server.url, name))
    migrations.upgrade(engine)
    engine.dispose()
    yield name
    _admin(pg_server.url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db_url(pg_server: PostgresServer, template_db: str) -> Iterator[str]:
    """URL of a fresh, migrated database for this test alone."""
    name = f"taskrow_test_{uuid.uuid4().hex[:12]}"
    _admin(pg_server.url, f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    yield database_url(pg_server.url, name)
    _admin(pg_server.url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def empty_db_url(pg_server: PostgresServer) -> Iterator[str]:
    """URL of a fresh database that was never migrated."""
    name = f"taskrow_empty_{uuid.uuid4().hex[:12]}"
    _admin(pg_server.url, f'CREATE DATABASE "{name}"')
    yield database_url(pg_server.url, name)
    _admin(pg_server.url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = queue_core.create_engine(db_url, pool_size=10, max_overflow=20)
    yield engine
    engine.dispose()


def _admin(url: str, *statements: str) -> None:
    admin = sa.create_engine(queue_core.engine_url(url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            for statement in statements:
                conn.execute(sa.text(statement))
    finally:
        admin.dispose()
