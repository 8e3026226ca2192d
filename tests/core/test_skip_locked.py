"""A claim skips rows another transaction holds locked instead of waiting for them."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

import queue_core

from .helpers import enqueue


def test_a_claim_skips_a_locked_row_without_waiting(engine: Engine) -> None:
    locked = enqueue(engine, priority=9)  # first in claim order
    others = {enqueue(engine).id for _ in range(3)}
    with engine.connect() as holder:
        holder.execute(
            sa.text("SELECT id FROM taskrow.tasks WHERE id = :id FOR UPDATE"), {"id": locked.id}
        )
        with engine.begin() as conn:
            # Waiting on the held row would end in a lock timeout error, not in a result.
            conn.execute(sa.text("SET LOCAL lock_timeout = '2s'"))
            claimed = queue_core.claim(conn, ["default"], 10, worker_id="w")
        assert {t.id for t in claimed} == others
        holder.rollback()
    with engine.begin() as conn:
        [again] = queue_core.claim(conn, ["default"], 10, worker_id="w")
    assert again.id == locked.id
