"""Reads and housekeeping: list, stats, prune, and the claim index under history."""

from __future__ import annotations

import json
import re

import sqlalchemy as sa
from sqlalchemy.engine import Engine

import queue_core
from queue_core import Failure, NewTask, TaskState

from .helpers import claim, count_tasks, enqueue


def test_list_pages_newest_first_with_a_stable_cursor(engine: Engine) -> None:
    ids = [enqueue(engine, queue="q" if i % 2 else "r").id for i in range(7)]
    pages = []
    before = None
    with engine.connect() as conn:
        while page := queue_core.list_tasks(conn, limit=3, before=before):
            pages.append([t.id for t in page])
            before = (page[-1].created_at, page[-1].id)
        only_q = queue_core.list_tasks(conn, queue="q", state="queued")
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [i for p in pages for i in p] == list(reversed(ids))
    assert {t.queue for t in only_q} == {"q"} and len(only_q) == 3


def test_stats_counts_states_and_oldest_due_age(engine: Engine) -> None:
    with engine.begin() as conn:
        queue_core.enqueue_many(conn, [NewTask("t", queue="mail") for _ in range(4)])
        queue_core.enqueue(conn, "t", queue="mail", delay=600)
        queue_core.enqueue(conn, "t", queue="sms", max_attempts=1)
        conn.execute(
            sa.text(
                "UPDATE taskrow.tasks SET run_at = now() - interval '90 seconds'"
                " WHERE queue = 'mail' AND run_at <= now()"
            )
        )
    [mail] = claim(engine, queues=["mail"])
    with engine.begin() as conn:
        queue_core.complete(conn, mail.lease, None)
    [sms] = claim(engine, queues=["sms"])
    with engine.begin() as conn:
        queue_core.fail(conn, Failure(sms.lease, "E", "x"))
    with engine.connect() as conn:
        stats = {s.queue: s for s in queue_core.stats(conn)}
    assert (
        stats["mail"].counts[TaskState.QUEUED] == 4
        and stats["mail"].counts[TaskState.SUCCEEDED] == 1
    )
    assert stats["sms"].counts[TaskState.DEAD] == 1 and stats["sms"].oldest_due_age is None
    age = stats["mail"].oldest_due_age
    assert age is not None and 89 <= age < 150


def test_prune_deletes_old_finished_tasks_in_bounded_batches(engine: Engine) -> None:
    with engine.begin() as conn:
        queue_core.enqueue_many(conn, [NewTask("t") for _ in range(25)])
    done = claim(engine, n=20)
    with engine.begin() as conn:
        queue_core.complete_many(conn, [(t.lease, None) for t in done])
        conn.execute(
            sa.text(
                "UPDATE taskrow.tasks SET finished_at = now() - interval '2 days'"
                " WHERE state = 'succeeded'"
            )
        )
    with engine.begin() as conn:
        assert queue_core.prune(conn, older_than=86400, batch_size=8) == 8
    assert queue_core.prune_all(engine, older_than=86400, batch_size=5) == 12
    assert count_tasks(engine) == 5 and count_tasks(engine, "state = 'queued'") == 5
    assert queue_core.prune_all(engine, older_than=0) == 0  # queued tasks are never pruned


_OUTCOME_ARRAYS = (
    "ids", "tokens", "results", "f_ids", "f_tokens", "busy", "retryable", "retry_in",
    "error_types", "error_messages", "error_tracebacks",
)  # fmt: skip
ROUND_PARAMS = {  # a round with no outcome to record
    **{name: [] for name in _OUTCOME_ARRAYS},
    "backoff_base": 1.0,
    "backoff_cap": 60.0,
    "synchronous_commit": "on",
}


def _claim_plan(engine: Engine, which: str = "claim", generic: bool = False) -> str:
    statements = queue_core.statements.for_schema("taskrow")
    sql = getattr(statements, which).text
    params: dict[str, object] = {
        "queues": ["default"],
        "n": 10,
        "lease_seconds": 30.0,
        "worker_id": "w",
    }
    if which == "sync":
        params.update(ROUND_PARAMS)
    with engine.begin() as conn:
        conn.execute(sa.text("ANALYZE taskrow.tasks"))
        conn.execute(sa.text("SET LOCAL enable_seqscan = on"))
        if generic:
            # As the worker's kept connection runs its round: prepared, with a generic plan.
            names = list(dict.fromkeys(re.findall(r"(?<![:\w]):(\w+)", sql)))
            numbered = re.sub(r"(?<![:\w]):(\w+)", lambda m: f"${names.index(m[1]) + 1}", sql)
            conn.execute(sa.text("SET LOCAL plan_cache_mode = force_generic_plan"))
            conn.exec_driver_sql(f"PREPARE taskrow_round AS {numbered}")
            values = ", ".join(_literal(params[name]) for name in names)  # typed by PREPARE
            plan = conn.exec_driver_sql(
                f"EXPLAIN (FORMAT JSON) EXECUTE taskrow_round({values})"
            ).scalar_one()
        else:
            explain = sa.text("EXPLAIN (FORMAT JSON) " + sql)
            plan = conn.execute(explain, params).scalar_one()
        conn.rollback()
    return json.dumps(plan)


def _literal(value: object) -> str:
    if isinstance(value, list):
        return "'{" + ",".join(str(v) for v in value) + "}'"
    return f"'{value}'" if isinstance(value, str) else str(value)


def test_claim_uses_its_partial_index_with_100k_finished_tasks(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text("""
            INSERT INTO taskrow.tasks (id, queue, task, state, finished_at)
            SELECT gen_random_uuid(), 'default', 't', 'succeeded', now()
            FROM generate_series(1, 100000)
        """)
        )
        queue_core.enqueue_many(conn, [NewTask("t") for _ in range(50)])
    for which, generic in (("claim", False), ("sync", False), ("sync", True)):
        plan = _claim_plan(engine, which, generic)
        assert "tasks_claim_idx" in plan and "tasks_lease_expiry_idx" in plan, which
        assert "Seq Scan" not in plan, which
    assert len(claim(engine, n=10)) == 10
