"""Bulk enqueue by COPY (``enqueue_many_ids`` of rows without idempotency keys): it stores what
the INSERT stores, column for column, with the same promises (validation first, a durable
commit, workers woken at commit, the tenant's depth limit, any schema, any executor)."""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, scoped_session, sessionmaker

import queue_core
from queue_core import InvalidTaskError, NewTask, QueueFull, TaskId, migrations

from .helpers import count_tasks

ENQUEUE = importlib.import_module("queue_core.enqueue")  # the module, not the function

#: Args whose text COPY's text format would mangle unescaped: backslashes (JSON's own escapes
#: included), what looks like COPY's NULL and end-of-data markers, control characters, quotes.
AWKWARD_ARGS: list[dict[str, Any]] = [
    {"path": "C:\\temp\\new", "re": "\\d+\\.\\w*", "backslash": "\\"},
    {"tab": "a\tb", "newline": "line\nnext\r\n", "nul_like": "\\N", "end": "\\.", "null": None},
    {"quotes": "\"double\" and 'single'", "unicode": "café ☕ 𝄞 中文 \u2028 \u00a0"},
    {"nested": {"deep": [1, 2.5, -3e-7, True, False, None, {"k\\t": "v\n"}]}, "empty": {}},
    {"\\key\twith\nall": "\\\\\\", "emoji": "🎉", "json_escape": "\\u0041 is not A"},
    {},
]


@pytest.fixture
def force(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``force("copy")`` or ``force("insert")``: the path every enqueue_many_ids takes."""

    def choose(path: str) -> None:
        monkeypatch.setattr(ENQUEUE, "COPY_FROM", 1 if path == "copy" else ENQUEUE.MAX_BATCH + 1)

    yield choose


def sent_statements(conn: Connection, trace: Path, call: Any) -> list[str]:
    """What the client sent while ``call()`` ran (libpq's trace of its messages)."""
    pgconn = conn.connection.driver_connection.pgconn  # type: ignore[union-attr]
    with trace.open("w") as out:
        pgconn.trace(out.fileno())
        try:
            call()
        finally:
            pgconn.untrace()
    return [line for line in trace.read_text().splitlines() if line.split("\t")[1:2] == ["F"]]


def stored(
    conn: Connection, ids: Sequence[TaskId], schema: str = "taskrow"
) -> list[dict[str, Any]]:
    """Every column of the tasks ``ids``, in that order."""
    rows = conn.execute(
        sa.text(f"SELECT * FROM {schema}.tasks WHERE id = ANY(:ids)"), {"ids": list(ids)}
    ).mappings()
    by_id = {row["id"]: dict(row) for row in rows}
    return [by_id[task_id] for task_id in ids]


def varied_tasks() -> list[NewTask]:
    """Every field set and unset, delays that round either way, run_at in several zones."""
    delays: list[float | timedelta | None] = [
        None,
        0,
        0.0000005,  # half a microsecond: Postgres rounds to even (0)
        0.0000015,
        0.0000025,
        1.5e-7,
        123.4567895,
        timedelta(days=200),  # across a daylight saving change in the session's zone
        timedelta(days=3650),
        86_399.999_999_5,
    ]
    zones = [UTC, timezone(timedelta(hours=-9, minutes=-30)), timezone(timedelta(hours=14))]
    tasks = []
    for i in range(150):
        delay = delays[i % len(delays)]
        run_at = None
        if i % 7 == 3:
            delay = None
            run_at = datetime(2031, 3, 30, 1, 59, 59, 999_999, tzinfo=zones[i % 3])
        tasks.append(
            NewTask(
                task=["noop", "billing.tasks:SendInvoice", "T_1-x.y"][i % 3],
                args={"i": i, **AWKWARD_ARGS[i % len(AWKWARD_ARGS)]},
                queue=["default", "emails", "q.1_x-y"][i % 3],
                priority=[0, -32768, 32767, 7][i % 4],
                run_at=run_at,
                delay=delay,
                max_attempts=[3, 1, 1000][i % 3],
                timeout_seconds=[None, 1, 7 * 24 * 3600][i % 3],
            )
        )
    return tasks


def load(engine: Engine, tasks: list[NewTask], tenant: str) -> list[dict[str, Any]]:
    """Enqueue ``tasks`` in a session whose time zone keeps daylight saving; what was stored,
    each row's ``run_at`` given relative to its enqueue's clock when the task gave no run_at."""
    with engine.connect() as conn:
        conn.execute(sa.text("SET TIME ZONE 'Europe/Paris'"))
        conn.commit()
        with conn.begin():
            ids = queue_core.enqueue_many_ids(conn, tasks, tenant=tenant)
            now = conn.execute(sa.text("SELECT now()")).scalar_one()
        rows = stored(conn, ids)
    for new, row in zip(tasks, rows, strict=True):
        assert row.pop("created_at") == now
        if new.run_at is None:
            row["run_at"] = row["run_at"].astimezone(UTC) - now.astimezone(UTC)
        del row["id"]
    return rows


def test_copy_stores_what_the_insert_stores(engine: Engine, force: Any, tmp_path: Path) -> None:
    tasks = varied_tasks()
    force("insert")
    inserted = load(engine, tasks, "acme")
    force("copy")
    copied = load(engine, tasks, "acme")
    for i, (old, new) in enumerate(zip(inserted, copied, strict=True)):
        assert new == old, f"row {i}: {tasks[i]}"
    assert copied[0]["args"] == {"i": 0, **AWKWARD_ARGS[0]}
    assert copied[0]["tenant"] == "acme" and copied[0]["state"] == "queued"
    assert copied[6]["run_at"] == timedelta(seconds=123.456790)  # 123.4567895 s, rounded
    assert copied[7]["run_at"] == timedelta(days=200)  # elapsed time, not wall-clock time
    with engine.connect() as conn:  # and it was COPY that wrote them
        sent = sent_statements(
            conn, tmp_path / "trace", lambda: queue_core.enqueue_many_ids(conn, tasks[:100])
        )
    assert [line for line in sent if "COPY" in line and "FROM STDIN" in line]
    assert not [line for line in sent if "INSERT" in line]


def test_small_batches_and_keyed_rows_still_insert(engine: Engine, tmp_path: Path) -> None:
    """COPY costs round trips that a small batch does not repay, and it cannot skip a key that
    exists: those batches keep the single INSERT."""
    small = [NewTask("t")] * (ENQUEUE.COPY_FROM - 1)
    keyed = [NewTask("t", {"i": i}) for i in range(ENQUEUE.COPY_FROM)]
    keyed[-1] = NewTask("t", idempotency_key="k")
    with engine.begin() as conn:
        for batch in (small, keyed):
            sent = sent_statements(
                conn,
                tmp_path / "trace",
                lambda batch=batch: queue_core.enqueue_many_ids(conn, batch),
            )
            assert not [line for line in sent if "COPY" in line]
    big = [NewTask("t")] * ENQUEUE.COPY_FROM
    with engine.begin() as conn:
        sent = sent_statements(
            conn, tmp_path / "trace", lambda: queue_core.enqueue_many_ids(conn, big)
        )
    assert [line for line in sent if "COPY" in line]
    assert count_tasks(engine) == len(small) + len(keyed) + len(big)


def test_copy_validates_everything_before_writing(engine: Engine, force: Any) -> None:
    force("copy")
    batch = [NewTask("t", {"i": i}) for i in range(200)]
    for bad in (NewTask("bad name!"), NewTask("t", {"x": float("nan")}), NewTask("t", delay=-1)):
        with pytest.raises(InvalidTaskError, match=r"tasks\[199\]"), engine.begin() as conn:
            queue_core.enqueue_many_ids(conn, [*batch[:199], bad])
    assert count_tasks(engine) == 0
    with engine.connect() as conn:
        queue_core.enqueue_many_ids(conn, batch)
        conn.rollback()
    assert count_tasks(engine) == 0
    with engine.begin() as conn:
        ids = queue_core.enqueue_many_ids(conn, batch)
    assert len(set(ids)) == 200 and count_tasks(engine) == 200


def test_copy_forces_a_durable_commit(engine: Engine, force: Any) -> None:
    force("copy")
    with engine.connect() as conn:
        conn.execute(sa.text("SET synchronous_commit = off"))
        conn.commit()
        queue_core.enqueue_many_ids(conn, [NewTask("t")] * 2)
        setting = conn.execute(sa.text("SHOW synchronous_commit")).scalar_one()
        conn.commit()
    assert setting == "on"


def test_copy_wakes_workers_at_commit_and_not_on_rollback(
    engine: Engine, db_url: str, force: Any
) -> None:
    force("copy")
    batch = [NewTask("t", queue=["mail", "sms"][i % 2]) for i in range(300)]
    with psycopg.connect(db_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {queue_core.notify_channel('taskrow')}")
        with engine.connect() as conn:
            queue_core.enqueue_many_ids(conn, batch)
            assert list(listener.notifies(timeout=0.2)) == []  # nothing before commit
            conn.commit()
        got = sorted(n.payload for n in listener.notifies(timeout=5.0, stop_after=2))
        assert got == ["mail", "sms"]
        with engine.connect() as conn:
            queue_core.enqueue_many_ids(conn, batch)
            conn.rollback()
        assert list(listener.notifies(timeout=0.3)) == []
    assert count_tasks(engine) == 300


def test_tasks_loaded_by_copy_count_toward_the_tenants_depth_limit(
    engine: Engine, force: Any
) -> None:
    force("copy")
    with engine.begin() as conn:
        queue_core.set_tenant_limit(conn, "acme", queue_depth_limit=250)
    with engine.begin() as conn:
        assert queue_core.reserve_depth(conn, "acme", {"emails": 200}, default_limit=None) == 250
        queue_core.enqueue_many_ids(conn, [NewTask("t", queue="emails")] * 200, tenant="acme")
    with pytest.raises(QueueFull) as info, engine.begin() as conn:
        queue_core.reserve_depth(conn, "acme", {"emails": 51}, default_limit=None)
    assert (info.value.queue, info.value.limit) == ("emails", 250)
    with engine.begin() as conn:  # another tenant, or another queue, is not this one's limit
        queue_core.reserve_depth(conn, "acme", {"sms": 250}, default_limit=None)
        queue_core.reserve_depth(conn, "other", {"emails": 250}, default_limit=250)
    assert count_tasks(engine, "tenant = 'acme' AND queue = 'emails'") == 200


def test_copy_into_another_schema(empty_db_url: str, force: Any) -> None:
    force("copy")
    engine = queue_core.create_engine(empty_db_url)
    try:
        migrations.upgrade(engine, schema="jobs")
        channel = queue_core.notify_channel("jobs")
        with psycopg.connect(empty_db_url, autocommit=True) as listener:
            listener.execute(f"LISTEN {channel}")
            with engine.begin() as conn:
                ids = queue_core.enqueue_many_ids(
                    conn, [NewTask("t", {"i": i}) for i in range(120)], schema="jobs"
                )
            assert [n.payload for n in listener.notifies(timeout=5.0, stop_after=1)] == ["default"]
        with engine.connect() as conn:
            assert [row["args"]["i"] for row in stored(conn, ids, "jobs")] == list(range(120))
            assert queue_core.get(conn, ids[5], schema="jobs").args == {"i": 5}
    finally:
        engine.dispose()


def test_copy_through_orm_sessions(engine: Engine, force: Any) -> None:
    force("copy")
    with Session(engine) as session:
        session.execute(sa.text("CREATE TABLE orders (id serial PRIMARY KEY)"))
        session.execute(sa.text("INSERT INTO orders DEFAULT VALUES"))
        queue_core.enqueue_many_ids(session, [NewTask("t")] * 110)
        session.commit()
    with Session(engine) as session:
        session.execute(sa.text("INSERT INTO orders DEFAULT VALUES"))
        queue_core.enqueue_many_ids(session, [NewTask("t")] * 110)
        session.rollback()
    scoped = scoped_session(sessionmaker(engine))
    try:
        queue_core.enqueue_many_ids(scoped, [NewTask("t")] * 105)
        scoped.commit()
    finally:
        scoped.remove()
    with engine.connect() as conn:
        orders = conn.execute(sa.text("SELECT count(*) FROM orders")).scalar_one()
    assert (orders, count_tasks(engine)) == (1, 215)


def test_copy_with_the_transaction_pooler_setting(db_url: str, force: Any) -> None:
    """Without server-side prepared statements (``pooler="transaction"``) and leaving no
    session state: COPY runs in the transaction alone."""
    force("copy")
    engine = queue_core.create_engine(db_url, pool_size=1, pooler="transaction")
    try:
        with engine.connect() as conn:
            for _ in range(8):  # past psycopg's prepare threshold
                with conn.begin():
                    queue_core.enqueue_many_ids(conn, [NewTask("t")] * 100)
            prepared = conn.execute(sa.text("SELECT count(*) FROM pg_prepared_statements"))
            assert prepared.scalar_one() == 0
            temporary = conn.execute(
                sa.text("SELECT count(*) FROM pg_class WHERE relpersistence = 't'")
            )
            assert temporary.scalar_one() == 0
        assert count_tasks(engine) == 800
    finally:
        engine.dispose()
