"""Enqueue: durability, idempotency, the caller's transaction, bad input."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

import queue_core
from queue_core import IdempotencyConflict, InvalidTaskError, NewTask, TaskState

from .helpers import count_tasks, enqueue


def test_enqueue_stores_every_field(engine: Engine) -> None:
    run_at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    task = enqueue(
        engine,
        "billing.tasks:SendInvoice",
        args={"to": "a@example.com", "n": [1, 2.5, None]},
        queue="emails",
        priority=7,
        run_at=run_at,
        max_attempts=5,
        timeout_seconds=60,
        tenant="acme",
    )
    with engine.connect() as conn:
        stored = queue_core.get(conn, task.id)
    assert stored == task
    assert (stored.state, stored.queue, stored.priority, stored.run_at) == (
        TaskState.QUEUED,
        "emails",
        7,
        run_at,
    )
    assert stored.args == {"to": "a@example.com", "n": [1, 2.5, None]}
    assert (stored.max_attempts, stored.timeout_seconds, stored.tenant) == (5, 60, "acme")
    assert stored.attempts == 0 and stored.lease_token is None


def test_run_at_with_any_utc_offset_is_stored_as_the_same_instant(engine: Engine) -> None:
    far_east = timezone(timedelta(hours=17, minutes=35))  # Postgres itself refuses such offsets
    run_at = datetime(2030, 1, 1, 12, 0, tzinfo=far_east)
    assert enqueue(engine, run_at=run_at).run_at == run_at
    with pytest.raises(InvalidTaskError, match="run_at"), engine.begin() as conn:
        queue_core.enqueue(conn, "t", run_at=datetime.min.replace(tzinfo=far_east))


def test_delay_is_computed_by_the_database_clock(engine: Engine) -> None:
    task = enqueue(engine, delay=timedelta(minutes=10))
    with engine.connect() as conn:
        db_now = conn.execute(sa.text("SELECT now()")).scalar_one()
    assert timedelta(minutes=9) < task.run_at - db_now <= timedelta(minutes=10)


def test_rolled_back_transaction_leaves_no_task(engine: Engine) -> None:
    with engine.connect() as conn:
        queue_core.enqueue(conn, "t")
        conn.rollback()
    assert count_tasks(engine) == 0
    with engine.begin() as conn:
        queue_core.enqueue(conn, "t")
    assert count_tasks(engine) == 1


def test_enqueue_joins_an_orm_session_transaction(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE orders (id serial PRIMARY KEY, item text)"))
    with Session(engine) as session:
        session.execute(sa.text("INSERT INTO orders (item) VALUES ('kept')"))
        queue_core.enqueue(session, "send_receipt", {"item": "kept"})
        session.commit()
    with Session(engine) as session:
        session.execute(sa.text("INSERT INTO orders (item) VALUES ('dropped')"))
        queue_core.enqueue(session, "send_receipt", {"item": "dropped"})
        session.rollback()
    with engine.connect() as conn:
        items = conn.execute(sa.text("SELECT item FROM orders")).scalars().all()
        args = [t.args["item"] for t in queue_core.list_tasks(conn)]
    assert items == ["kept"] and args == ["kept"]


def test_enqueue_forces_a_durable_commit(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(sa.text("SET synchronous_commit = off"))
        conn.commit()
        queue_core.enqueue(conn, "t")
        setting = conn.execute(sa.text("SHOW synchronous_commit")).scalar_one()
        conn.commit()
    assert setting == "on"


def test_bulk_enqueue_of_ten_thousand_in_one_statement(engine: Engine, tmp_path: Path) -> None:
    new = [NewTask("t", {"i": i}, priority=i % 3) for i in range(10_000)]
    trace = tmp_path / "libpq.trace"
    with engine.begin() as conn, trace.open("w") as out:
        pgconn = conn.connection.driver_connection.pgconn  # type: ignore[union-attr]
        pgconn.trace(out.fileno())  # every protocol message the client sends
        try:
            tasks = queue_core.enqueue_many(conn, new)
        finally:
            pgconn.untrace()
    assert [t.args["i"] for t in tasks] == list(range(10_000))
    sent = [line for line in trace.read_text().splitlines() if line.split("\t")[1:2] == ["F"]]
    assert len([line for line in sent if "INSERT" in line]) == 1
    assert count_tasks(engine) == 10_000


def test_bulk_enqueue_is_all_or_nothing(engine: Engine) -> None:
    with pytest.raises(InvalidTaskError) as info, engine.begin() as conn:
        queue_core.enqueue_many(conn, [NewTask("ok"), NewTask("bad name!")])
    assert info.value.field == "tasks[1].task"
    assert count_tasks(engine) == 0
    with pytest.raises(InvalidTaskError), engine.begin() as conn:
        queue_core.enqueue_many(conn, [NewTask("t")] * 10_001)


class _LooksValid(str):
    """A name equal to (and hashed as) a valid one, whatever it holds."""

    def __eq__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return hash("default")


def test_a_batch_names_the_field_and_checks_each_name(engine: Engine) -> None:
    batch = [NewTask("t", {"i": i}) for i in range(200)]
    cases = [
        (NewTask("t", queue=_LooksValid("Not Valid!")), "tasks[150].queue"),
        (NewTask(_LooksValid("drop table; --")), "tasks[150].task"),
        (NewTask("t", {"k": "\ud800"}), "tasks[150].args"),
        (NewTask("t", run_at=datetime.now(UTC), delay=1), "tasks[150].run_at"),
        (NewTask("t", timeout_seconds=0), "tasks[150].timeout_seconds"),
        (NewTask("t", idempotency_key=""), "idempotency_key"),  # as it always was
    ]
    for bad, field in cases:
        for ids_only in (False, True):
            enqueue_batch = queue_core.enqueue_many_ids if ids_only else queue_core.enqueue_many
            with pytest.raises(InvalidTaskError) as info, engine.begin() as conn:
                enqueue_batch(conn, [*batch[:150], bad, *batch[150:]])
            assert info.value.field == field
    with pytest.raises(InvalidTaskError) as info, engine.begin() as conn:
        queue_core.enqueue_many(conn, [NewTask("t", queue="Bad")])
    assert info.value.field == "queue"
    assert count_tasks(engine) == 0


def test_idempotent_replay_returns_the_existing_task(engine: Engine) -> None:
    first = enqueue(engine, args={"a": 1}, idempotency_key="order-1")
    again = enqueue(engine, args={"a": 1}, idempotency_key="order-1")
    assert again.id == first.id and count_tasks(engine) == 1
    other_tenant = enqueue(engine, args={"a": 1}, idempotency_key="order-1", tenant="other")
    assert other_tenant.id != first.id


def test_idempotency_key_with_different_content_is_refused(engine: Engine) -> None:
    first = enqueue(engine, args={"a": 1}, idempotency_key="order-1")
    with pytest.raises(IdempotencyConflict) as info:
        enqueue(engine, args={"a": 2}, idempotency_key="order-1")
    assert info.value.task_id == str(first.id)
    with pytest.raises(IdempotencyConflict):
        enqueue(engine, args={"a": 1}, idempotency_key="order-1", priority=5)
    assert count_tasks(engine) == 1


def test_bulk_enqueue_with_repeated_and_existing_keys(engine: Engine) -> None:
    existing = enqueue(engine, args={"n": 0}, idempotency_key="k0")
    with engine.begin() as conn:
        tasks = queue_core.enqueue_many(
            conn,
            [
                NewTask("t", {"n": 0}, idempotency_key="k0"),
                NewTask("t", {"n": 1}, idempotency_key="k1"),
                NewTask("t", {"n": 1}, idempotency_key="k1"),
                NewTask("t", {"n": 2}),
            ],
        )
    assert tasks[0].id == existing.id and tasks[1].id == tasks[2].id
    assert count_tasks(engine) == 3
    with pytest.raises(IdempotencyConflict), engine.begin() as conn:
        queue_core.enqueue_many(
            conn,
            [
                NewTask("t", {"n": 5}, idempotency_key="k5"),
                NewTask("t", {"n": 6}, idempotency_key="k5"),
            ],
        )


def test_ids_only_bulk_enqueue_answers_ids_in_input_order(engine: Engine) -> None:
    existing = enqueue(engine, args={"n": 0}, idempotency_key="k0")
    new = [NewTask("t", {"i": i}) for i in range(2_000)]
    new[7] = NewTask("t", {"n": 0}, idempotency_key="k0")  # a replay: the existing id
    with engine.begin() as conn:
        ids = queue_core.enqueue_many_ids(conn, new)
    assert len(ids) == 2_000 and ids[7] == existing.id
    with engine.connect() as conn:
        for i in (0, 1_999):
            assert queue_core.get(conn, ids[i]).args == {"i": i}
    assert count_tasks(engine) == 2_000  # 1,999 new and the existing one
    with pytest.raises(IdempotencyConflict), engine.begin() as conn:
        queue_core.enqueue_many_ids(conn, [NewTask("t", {"n": 9}, idempotency_key="k0")])
    with pytest.raises(InvalidTaskError), engine.begin() as conn:
        queue_core.enqueue_many_ids(conn, [NewTask("t"), NewTask("bad name!")])
    assert count_tasks(engine) == 2_000


def test_twenty_concurrent_enqueues_with_one_key_make_one_task(engine: Engine) -> None:
    barrier = threading.Barrier(20)
    ids: list[uuid.UUID] = []
    errors: list[BaseException] = []

    def enqueue_once() -> None:
        try:
            with engine.begin() as conn:
                barrier.wait(timeout=10)
                ids.append(queue_core.enqueue(conn, "t", {"x": 1}, idempotency_key="same").id)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=enqueue_once) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert len(ids) == 20 and len(set(ids)) == 1
    assert count_tasks(engine) == 1


def test_notify_is_sent_at_commit_once_per_queue(engine: Engine, db_url: str) -> None:
    channel = queue_core.notify_channel("taskrow")
    with psycopg.connect(db_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {channel}")
        with engine.connect() as conn:
            for _ in range(3):
                queue_core.enqueue(conn, "t", queue="mail")
            queue_core.enqueue(conn, "t", queue="sms")
            assert list(listener.notifies(timeout=0.2)) == []  # nothing before commit
            conn.commit()
        got = sorted(n.payload for n in listener.notifies(timeout=1.0, stop_after=2))
        assert got == ["mail", "sms"]
        assert list(listener.notifies(timeout=0.2)) == []  # and nothing more
        with engine.connect() as conn:
            queue_core.enqueue(conn, "t", queue="mail")
            conn.rollback()
        assert list(listener.notifies(timeout=0.3)) == []  # a rolled-back enqueue wakes nobody


BAD_INPUT = [
    ({"task": ""}, "task"),
    ({"task": "x" * 129}, "task"),
    ({"task": "drop table; --"}, "task"),
    ({"queue": "Emails"}, "queue"),
    ({"queue": "a" * 65}, "queue"),
    ({"queue": "q'; DROP TABLE taskrow.tasks; --"}, "queue"),
    ({"queue": "é"}, "queue"),
    ({"args": ["not", "an", "object"]}, "args"),
    ({"args": {"when": datetime.now(UTC)}}, "args"),
    ({"args": {"bad": "nul\x00byte"}}, "args"),
    ({"args": {"nul\x00key": 1}}, "args"),
    ({"args": {"bad": "\ud800"}}, "args"),
    ({"args": {"nan": float("nan")}}, "args"),
    ({"args": {1: "int key"}}, "args"),
    ({"run_at": datetime(2030, 1, 1)}, "run_at"),
    ({"run_at": datetime.now(UTC), "delay": 5}, "run_at"),
    ({"delay": -1}, "delay"),
    ({"priority": 40_000}, "priority"),
    ({"priority": True}, "priority"),
    ({"max_attempts": 0}, "max_attempts"),
    ({"timeout_seconds": 0}, "timeout_seconds"),
    ({"idempotency_key": "k" * 256}, "idempotency_key"),
    ({"idempotency_key": ""}, "idempotency_key"),
    ({"idempotency_key": "a\x00b"}, "idempotency_key"),
    ({"tenant": "Not Valid"}, "tenant"),
]


@pytest.mark.parametrize(("kwargs", "field"), BAD_INPUT)
def test_bad_input_raises_a_typed_error_and_writes_nothing(
    engine: Engine, kwargs: dict[str, object], field: str
) -> None:
    kwargs = {"task": "ok", **kwargs}
    with pytest.raises(InvalidTaskError) as info, engine.begin() as conn:
        queue_core.enqueue(conn, **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field
    assert field.split(".")[0] in str(info.value)
    assert count_tasks(engine) == 0


def test_deeply_nested_args_are_refused_without_recursion_error(engine: Engine) -> None:
    nested: dict[str, object] = {}
    cursor = nested
    for _ in range(10_000):
        cursor["x"] = cursor = {}
    with pytest.raises(InvalidTaskError, match="nests deeper"), engine.begin() as conn:
        queue_core.enqueue(conn, "t", nested)
    assert count_tasks(engine) == 0


def test_an_enqueue_under_a_revoked_key_writes_nothing(engine: Engine) -> None:
    with engine.begin() as conn:
        live = queue_core.create_key(conn, tenant="acme", scopes=["enqueue"]).key
        gone = queue_core.create_key(conn, tenant="acme", scopes=["enqueue"]).key
        queue_core.revoke_key(conn, gone.id)
    with engine.begin() as conn:
        [task] = queue_core.enqueue_many(conn, [NewTask("t")], tenant="acme", key_id=live.id)
    assert task.tenant == "acme"
    for key_id in (gone.id, "nokey"):
        with pytest.raises(queue_core.KeyRevoked), engine.begin() as conn:
            queue_core.enqueue_many(conn, [NewTask("t"), NewTask("u")], key_id=key_id)
    assert count_tasks(engine) == 1


@pytest.mark.parametrize(
    "new",
    [
        NewTask("t"),
        NewTask("t", {"b": 1, "a": {"z": [1, "é", None]}}, delay=5.5, priority=-3),
        NewTask("t", {"x": 1}, queue="q1", max_attempts=9, timeout_seconds=7, idempotency_key="k"),
    ],
    ids=["defaults", "delay-and-args", "idempotency-key"],
)
@pytest.mark.parametrize("under_key", [False, True], ids=["plain", "under-a-key"])
def test_the_task_an_enqueue_answers_is_the_row_it_stored(
    engine: Engine, new: NewTask, under_key: bool
) -> None:
    """An enqueue reads back only what the database chose (args as stored, run_at,
    created_at) and fills in the rest: every field must equal the stored row's."""
    with engine.begin() as conn:
        key_id = None
        if under_key:
            key_id = queue_core.create_key(conn, tenant="acme", scopes=["enqueue"]).key.id
    with engine.begin() as conn:
        [task] = queue_core.enqueue_many(conn, [new], tenant="acme", key_id=key_id)
    with engine.connect() as conn:
        stored = queue_core.get(conn, task.id, tenant="acme")
    assert task == stored
    assert list(task.args) == list(stored.args)  # the same key order, too
