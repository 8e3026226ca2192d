"""Connections: the engine factory, what callers may pass in, and driver-error translation."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import time
from collections.abc import Iterator, Mapping
from typing import Any, Literal

import psycopg
import sqlalchemy as sa
from psycopg import pq
from psycopg.rows import namedtuple_row
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import psycopg as sa_psycopg
from sqlalchemy.engine import Connection, CursorResult, Engine
from sqlalchemy.orm import Session, scoped_session

from .errors import DatabaseError, DatabaseUnavailable, PoolerMismatch, SchemaNotMigrated
from .urls import parse_url

#: What the state-machine functions accept: a Core connection, or an ORM session (its current
#: transaction is used), scoped ones included (Flask-SQLAlchemy's ``db.session``). The caller
#: owns the transaction: nothing here commits. A scoped session of any Session subclass
#: (scoped_session is invariant in it; Flask-SQLAlchemy's is scoped_session[its Session]).
Executor = Connection | Session | scoped_session[Any]


def engine_url(url: str) -> sa.URL:
    """Parse a Postgres URL and select the psycopg 3 driver (``postgres://`` is accepted); it
    may name several hosts (:mod:`queue_core.urls`). A malformed one raises InvalidTaskError."""
    return parse_url(url)


#: libpq settings that notice a peer that vanished without closing the connection (host gone,
#: network cut, a blackhole): keepalive probes after 10 s idle, and no sent data may stay
#: unacknowledged for more than 20 s. Without them a blocked read can wait for hours.
DEAD_PEER_DETECTION: dict[str, int] = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 2,
    "tcp_user_timeout": 20_000,
}

#: What stands between taskrow and Postgres (see :mod:`queue_core.pooler`): nothing, a session
#: pooler (nothing changes), or a transaction pooler (no prepared statements, no session state).
Pooler = Literal["none", "session", "transaction"]
POOLERS: tuple[Pooler, ...] = ("none", "session", "transaction")

#: What to do about a transaction pooler that was not declared (error messages end with it).
POOLER_FIX = (
    "set TASKROW_POOLER=transaction (in code: queue_core.create_engine(url, "
    'pooler="transaction")), or point taskrow at Postgres directly'
)


def create_engine(
    url: str,
    *,
    pool_size: int = 5,
    max_overflow: int = 10,
    pool_timeout: float = 2.0,
    connect_timeout: int = 2,
    pre_ping: bool = True,
    application_name: str = "taskrow",
    pooler: Pooler = "none",
) -> Engine:
    """An engine on psycopg 3 whose failures surface within seconds, not minutes.

    ``pool_timeout`` bounds the wait for a free connection and ``connect_timeout`` the wait for
    a new one, so a caller facing a dead database gets :class:`DatabaseUnavailable` quickly;
    TCP keepalives and a user timeout (:data:`DEAD_PEER_DETECTION`) break connections whose
    peer vanished silently. ``pre_ping`` checks connections that sat idle in the pool for
    more than :data:`IDLE_PING_SECONDS` before handing them out. Parameters given in the URL's
    query string take precedence. ``pooler="transaction"`` (behind PgBouncer's transaction
    pooling) turns off psycopg's server-side prepared statements on every connection.
    """
    parsed = engine_url(url)
    engine = sa.create_engine(
        parsed,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        connect_args=_connect_args(parsed, connect_timeout, application_name, pooler),
        execution_options={_POOLER_OPTION: pooler},
    )
    if pre_ping:
        _ping_idle_connections(engine)
    return engine


def _connect_args(
    parsed: sa.URL, connect_timeout: int, application_name: str, pooler: Pooler = "none"
) -> dict[str, object]:
    """What every taskrow engine (sync or async) passes to libpq, unless the URL says otherwise."""
    connect_args: dict[str, object] = {
        "connect_timeout": connect_timeout,
        "application_name": application_name,
        **DEAD_PEER_DETECTION,
    }
    for name in parsed.query:
        connect_args.pop(name, None)
    if pooler == "transaction":
        connect_args["prepare_threshold"] = None  # a prepared statement outlives a transaction
    return connect_args


_POOLER_OPTION = "taskrow_pooler"


def pooler_of(engine: sa.Engine) -> Pooler:
    """The ``pooler`` an engine of :func:`create_engine` was made for (``"none"`` otherwise):
    an engine made beside it for the same database (e.g. an async one) needs the same."""
    pooler = engine.get_execution_options().get(_POOLER_OPTION, "none")
    return pooler if pooler in POOLERS else "none"


#: A pooled connection unused for longer than this is checked with a ping before it is handed
#: out; busier ones are not (a ping is a round trip, a sizeable share of a short request).
IDLE_PING_SECONDS = 1.0


def _ping_idle_connections(engine: Engine) -> None:
    """SQLAlchemy's pre-ping, for idle connections only: after a Postgres restart the first
    checkout of each stale connection reconnects instead of failing. A connection that broke
    while in use fails that use (DatabaseUnavailable), and SQLAlchemy then recycles the pool."""

    @sa.event.listens_for(engine, "checkin")
    def _checked_in(dbapi_connection: Any, record: Any) -> None:
        record.info["taskrow_idle_since"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        idle_since = record.info.get("taskrow_idle_since")
        if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # whatever the failure, the answer is: reconnect
            raise sa_exc.DisconnectionError(str(exc)) from exc
        if not alive:
            raise sa_exc.DisconnectionError("the ping found the connection closed")


def connection_of(executor: Executor) -> Connection:
    if isinstance(executor, scoped_session):
        session: Session = executor()
        return session.connection()
    if isinstance(executor, Session):
        return executor.connection()
    return executor


@contextlib.contextmanager
def translate_errors() -> Iterator[None]:
    """Turn driver errors raised inside the block into :class:`DatabaseError` subclasses.

    Use it around a caller's own ``commit()`` too: a commit that fails by losing the connection
    has an unknown outcome, reported as :class:`DatabaseUnavailable`.
    """
    try:
        yield
    except _MISSING_SCHEMA as exc:  # from run_direct
        raise _not_migrated(exc) from exc
    except _PREPARED_STATEMENT_ERRORS as exc:  # from run_direct
        raise _pooler_mismatch(exc) from exc
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:  # from run_direct
        raise DatabaseUnavailable(_first_line(exc)) from exc
    except psycopg.Error as exc:
        raise DatabaseError(_first_line(exc)) from exc
    except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
        raise DatabaseUnavailable(_describe(exc)) from exc
    except sa_exc.TimeoutError as exc:  # no pooled connection came free in time
        raise DatabaseUnavailable(f"no database connection available: {exc}") from exc
    except sa_exc.DBAPIError as exc:
        if isinstance(exc.orig, _MISSING_SCHEMA):
            raise _not_migrated(exc.orig) from exc
        if isinstance(exc.orig, _PREPARED_STATEMENT_ERRORS):
            raise _pooler_mismatch(exc.orig) from exc
        if exc.connection_invalidated:
            raise DatabaseUnavailable(_describe(exc)) from exc
        raise DatabaseError(_describe(exc)) from exc


@contextlib.contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """A connection of ``engine`` in one transaction, committed when the block ends (rolled
    back if it raises).

    Connecting, every statement and the commit are translated (:func:`translate_errors`): a
    dead database, or a commit whose outcome is unknown, surfaces as
    :class:`DatabaseUnavailable` within the engine's pool and connect timeouts.
    """
    with translate_errors(), engine.begin() as conn:
        yield conn


@contextlib.contextmanager
def connection(engine: Engine) -> Iterator[Connection]:
    """A connection of ``engine``, translated as :func:`transaction`'s, that commits nothing:
    for reads (the transaction they begin is rolled back when the block ends), or on an engine
    in autocommit mode, where each statement commits by itself."""
    with translate_errors(), engine.connect() as conn:
        yield conn


#: What a statement meets when the tables are missing or older than the code: not an outage.
_MISSING_SCHEMA = (
    psycopg.errors.UndefinedTable,
    psycopg.errors.UndefinedColumn,
    psycopg.errors.InvalidSchemaName,
)


def _not_migrated(exc: psycopg.Error) -> SchemaNotMigrated:
    return SchemaNotMigrated(_first_line(exc))


#: What psycopg's prepared statements meet behind an undeclared transaction pooler: the
#: statement it prepared is missing (another server) or another client's is in its place.
_PREPARED_STATEMENT_ERRORS = (
    psycopg.errors.InvalidSqlStatementName,
    psycopg.errors.DuplicatePreparedStatement,
)


def _pooler_mismatch(exc: BaseException) -> PoolerMismatch:
    return PoolerMismatch(
        f"{_first_line(exc)}: the connection goes through a transaction pooler (such as "
        f"PgBouncer with pool_mode = transaction): {POOLER_FIX}"
    )


def _describe(exc: sa_exc.DBAPIError) -> str:
    return _first_line(exc.orig)


def _first_line(exc: BaseException | None) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else "") or type(exc).__name__


def run(
    executor: Executor, statement: sa.TextClause, params: Mapping[str, Any]
) -> CursorResult[Any]:
    """Execute one statement on the caller's transaction, translating driver errors."""
    with translate_errors():
        return connection_of(executor).execute(statement, dict(params))


@dataclasses.dataclass(frozen=True, slots=True)
class Fetched:
    """What :func:`run_direct` got back: the rows (named tuples) and the count of rows affected."""

    rows: list[Any]
    rowcount: int


def run_direct(executor: Executor, statement: sa.TextClause, params: Mapping[str, Any]) -> Fetched:
    """:func:`run` without SQLAlchemy's execution layer: psycopg runs the statement on the same
    connection, in the same transaction (begun here if none is, as SQLAlchemy would).

    For the statements run thousands of times a second (enqueue, the API key lookup, a worker's
    round), where that layer costs the client more than the database costs the server. The
    rows are read in full before returning.
    """
    with translate_errors():
        conn = connection_of(executor)
        _begin(conn)
        driver = _psycopg_connection(conn)
        try:
            with driver.cursor(row_factory=namedtuple_row) as cursor:
                cursor.execute(_pyformat(statement), params)
                result = cursor.pgresult  # cheaper to ask than cursor.description
                rows = cursor.fetchall() if result and result.status == _TUPLES_OK else []
                return Fetched(rows, cursor.rowcount)
        except psycopg.Error:
            if driver.broken:
                conn.invalidate()  # not back to the pool
            raise


def copy_in(executor: Executor, statement: sa.TextClause, data: str) -> int:
    """Run ``statement``, a ``COPY ... FROM STDIN``, on the caller's transaction (begun here if
    none is, as :func:`run_direct` does), sending ``data`` (in the COPY's format) as its input;
    the number of rows it loaded. No server-side prepared statement, no session state: it
    runs as well behind a transaction pooler."""
    with translate_errors():
        conn = connection_of(executor)
        _begin(conn)
        driver = _psycopg_connection(conn)
        try:
            with driver.cursor() as cursor:
                with cursor.copy(_pyformat(statement)) as copy:
                    copy.write(data)
                return cursor.rowcount
        except psycopg.Error:
            if driver.broken:
                conn.invalidate()  # not back to the pool
            raise


def _begin(conn: Connection) -> None:
    """Begin SQLAlchemy's transaction on ``conn`` if none is, as it would before a statement;
    not on a connection in autocommit mode, where there is none to begin (each statement
    commits by itself) and SQLAlchemy's would only cost a begin and a rollback in Python."""
    if not conn.in_transaction() and conn.get_execution_options().get("isolation_level") != (
        "AUTOCOMMIT"
    ):
        conn.begin()


def _psycopg_connection(conn: Connection) -> psycopg.Connection[Any]:
    driver = conn.connection.driver_connection
    if not isinstance(driver, psycopg.Connection):
        raise DatabaseError(
            "queue_core needs SQLAlchemy's psycopg (3) driver (postgresql+psycopg://), "
            f"not {conn.dialect.name}+{conn.dialect.driver}"
        )
    return driver


_TUPLES_OK = pq.ExecStatus.TUPLES_OK
_DIALECT = sa_psycopg.dialect()  # type: ignore[no-untyped-call]


@functools.cache
def _pyformat(statement: sa.TextClause) -> str:
    """The statement as psycopg takes it (``%(name)s`` placeholders, ``%`` escaped)."""
    return str(statement.compile(dialect=_DIALECT))
