"""The engine factory: an idle pooled connection whose server side died is replaced, not used."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

import queue_core
from queue_core import DatabaseUnavailable, db


def backend_pid(engine: sa.Engine) -> int:
    with queue_core.translate_errors(), engine.connect() as conn:
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
    now = queue_core.statements.for_schema("taskrow").now
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
