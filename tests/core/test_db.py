"""The engine factory: an idle pooled connection whose server side died is replaced, not used."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest
import sqlalchemy as sa

import queue_core
from queue_core import DatabaseUnavailable, db


def backend_pid(engine: sa.Engine) -> int:
    with queue_core.connection(engine) as conn:
        return int(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())


def kill_backend(db_url: str, pid: int) -> None:
    """What a Postgres restart does to every connection a pool holds."""
    other = queue_core.create_engine(db_url, pool_size=1, pre_ping=False)
    with other.connect() as conn:
        conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    other.dispose()


@pytest.mark.parametrize("pre_ping", [True, False])
def test_an_idle_connection_killed_on_the_server_side(
    db_url: str, monkeypatch: pytest.MonkeyPatch, pre_ping: bool
) -> None:
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 0.0)  # every checkout counts as idle
    engine = queue_core.create_engine(db_url, pool_size=1, max_overflow=0, pre_ping=pre_ping)
    try:
        first = backend_pid(engine)
        kill_backend(db_url, first)
        if pre_ping:
            assert backend_pid(engine) != first  # reconnected before use
        else:
            with pytest.raises(DatabaseUnavailable):
                backend_pid(engine)  # without the ping, the dead connection fails its user
            assert backend_pid(engine) != first  # and the pool was recycled after it
    finally:
        engine.dispose()


def test_run_direct_shares_the_callers_transaction_and_translates_errors(
    db_url: str, engine: sa.Engine
) -> None:
    now = queue_core.sql.for_schema("taskrow").now
    with engine.connect() as conn:
        assert not conn.in_transaction()  # run_direct begins one, as SQLAlchemy would
        queue_core.enqueue_many(conn, [queue_core.NewTask("direct")], schema="taskrow")
        assert conn.in_transaction()
        conn.rollback()  # undoes it: the caller owns the transaction
    with engine.connect() as conn:
        queue_core.enqueue_many(conn, [queue_core.NewTask("direct")], schema="taskrow")
        conn.commit()
        count = conn.execute(sa.text("SELECT count(*) FROM taskrow.tasks WHERE task = 'direct'"))
        assert count.scalar_one() == 1
    with engine.connect() as conn:
        bad = sa.text("SELECT 1 / 0")
        with pytest.raises(queue_core.DatabaseError) as refused:
            db.run_direct(conn, bad, {})
        assert not isinstance(refused.value, DatabaseUnavailable)
        assert "division by zero" in str(refused.value)
        conn.rollback()
        assert db.run_direct(conn, now, {}).rows[0].now is not None  # still usable
        pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        kill_backend(db_url, pid)
        with pytest.raises(DatabaseUnavailable):
            db.run_direct(conn, now, {})
        assert conn.invalidated  # not handed out again


def test_another_driver_is_refused_with_a_typed_error() -> None:
    other = sa.create_engine("sqlite://")
    with other.connect() as conn, pytest.raises(queue_core.DatabaseError, match="psycopg"):
        queue_core.enqueue(conn, "t")


Helper = Callable[[sa.Engine], AbstractContextManager[sa.Connection]]


def _count(engine: sa.Engine, task: str) -> int:
    with engine.connect() as conn:
        found = conn.execute(
            sa.text("SELECT count(*) FROM taskrow.tasks WHERE task = :t"), {"t": task}
        )
        return int(found.scalar_one())


def test_transaction_commits_at_the_end_and_rolls_back_on_an_exception(engine: sa.Engine) -> None:
    with queue_core.transaction(engine) as conn:
        queue_core.enqueue(conn, "kept", schema="taskrow")
        assert conn.in_transaction()
    assert _count(engine, "kept") == 1
    with pytest.raises(RuntimeError), queue_core.transaction(engine) as conn:
        queue_core.enqueue(conn, "undone", schema="taskrow")
        raise RuntimeError("the caller's own failure")  # not a driver error: untouched
    assert _count(engine, "undone") == 0


def test_connection_commits_nothing_unless_its_engine_autocommits(engine: sa.Engine) -> None:
    with queue_core.connection(engine) as conn:
        queue_core.enqueue(conn, "read-only", schema="taskrow")
    assert _count(engine, "read-only") == 0
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
    with queue_core.connection(autocommit) as conn:
        queue_core.enqueue(conn, "autocommitted", schema="taskrow")
    assert _count(engine, "autocommitted") == 1


@pytest.mark.parametrize("helper", [queue_core.transaction, queue_core.connection])
def test_both_translate_driver_errors_in_the_block(engine: sa.Engine, helper: Helper) -> None:
    division = pytest.raises(queue_core.DatabaseError, match="division by zero")
    with division as refused, helper(engine) as conn:
        conn.execute(sa.text("SELECT 1 / 0"))
    assert not isinstance(refused.value, DatabaseUnavailable)
    assert isinstance(refused.value.__cause__, sa.exc.DBAPIError)


@pytest.mark.parametrize("helper", [queue_core.transaction, queue_core.connection])
def test_both_report_a_database_that_cannot_be_reached(helper: Helper) -> None:
    nowhere = queue_core.create_engine("postgresql://nobody@127.0.0.1:1/none", connect_timeout=1)
    try:
        with pytest.raises(DatabaseUnavailable), helper(nowhere):
            pytest.fail("connected to nothing")
    finally:
        nowhere.dispose()


def test_a_commit_that_loses_its_connection_is_unavailable(db_url: str, engine: sa.Engine) -> None:
    """The commit is translated too: its outcome is unknown, which DatabaseUnavailable says."""
    with pytest.raises(DatabaseUnavailable), queue_core.transaction(engine) as conn:
        queue_core.enqueue(conn, "lost", schema="taskrow")
        kill_backend(db_url, conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())
    assert _count(engine, "lost") == 0
