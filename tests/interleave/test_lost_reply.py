"""A round whose reply is lost after the server committed it: its claims are not orphaned."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from queue_core import TaskState

from ..worker.conftest import StartWorker, enqueue
from ..worker.test_running import ended
from .proxy import ReplyDropper

ROUND = b"WITH done AS"  # the worker's round statement (record and claim)


def test_the_claims_of_a_round_whose_reply_was_lost_run_without_another_attempt(
    engine: Engine, start_worker: StartWorker, db_url: str
) -> None:
    task = enqueue(engine, "echo", {"round": "lost"}, max_attempts=1)
    url = sa.make_url(db_url)
    with ReplyDropper(url.port or 5432, url.host or "127.0.0.1") as proxy:
        proxy.arm(ROUND)
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
        proc = start_worker("--lease", "5", url=proxied)
        assert proxy.dropped.wait(30), "the round's reply was never swallowed"
        # Without adoption the task waits out its 5 s lease, then ends dead (LeaseExpired):
        # its one attempt was charged by a claim whose handler never ran.
        done = ended(engine, task, TaskState.SUCCEEDED)
        assert (done.result, done.attempts) == ({"args": {"round": "lost"}, "attempt": 1}, 1)
        proc.wait_log("task.adopted")
