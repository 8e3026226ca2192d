"""Bulk enqueue by COPY through a real PgBouncer in transaction pooling: several clients share
one server connection, each batch lands whole and wakes the workers listening directly."""

from __future__ import annotations

import concurrent.futures

import psycopg
import pytest
import sqlalchemy as sa

import queue_core
from queue_core import NewTask

from .conftest import Bouncer

pytestmark = pytest.mark.slow  # a real PgBouncer


def test_bulk_copy_through_a_transaction_pooler(pgbouncer: Bouncer, db_url: str) -> None:
    url = pgbouncer("transaction", 1).via(db_url)  # one server connection for every client
    engine = queue_core.create_engine(url, pool_size=4, pooler="transaction")

    def load(writer: int) -> list[queue_core.TaskId]:
        made = []
        with engine.connect() as conn:
            for batch in range(5):
                news = [
                    NewTask("t", {"writer": writer, "batch": batch, "i": i, "s": "a\\tb\n"})
                    for i in range(200)
                ]
                with conn.begin():
                    made += queue_core.enqueue_many_ids(conn, news, tenant=f"t{writer}")
        return made

    try:
        with psycopg.connect(db_url, autocommit=True) as listener:
            listener.execute(f"LISTEN {queue_core.notify_channel('taskrow')}")
            with concurrent.futures.ThreadPoolExecutor(4) as pool:
                made = [task_id for ids in pool.map(load, range(4)) for task_id in ids]
            woken = list(listener.notifies(timeout=10.0, stop_after=20))
        assert [n.payload for n in woken] == ["default"] * 20  # one per committed batch
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT id, tenant, args FROM taskrow.tasks WHERE state = 'queued'")
            ).all()
            prepared = conn.execute(sa.text("SELECT count(*) FROM pg_prepared_statements"))
            assert prepared.scalar_one() == 0
    finally:
        engine.dispose()
    assert sorted(row.id for row in rows) == sorted(made) and len(made) == 4_000
    assert {(row.tenant, row.args["writer"]) for row in rows} == {(f"t{w}", w) for w in range(4)}
    assert all(row.args["s"] == "a\\tb\n" for row in rows)
