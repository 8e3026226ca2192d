from sqlalchemy.engine import Engine

import queue_core
from queue_core import TaskState


def test_enqueue_claim_complete(engine: Engine) -> None:
    with engine.begin() as conn:
        task = queue_core.enqueue(conn, "hello", {"name": "world"})
    with engine.begin() as conn:
        [claimed] = queue_core.claim(conn, ["default"], 10, worker_id="w")
    assert claimed.id == task.id and claimed.attempts == 1
    with engine.begin() as conn:
        queue_core.complete(conn, claimed.lease, {"greeting": "hi"})
    with engine.connect() as conn:
        done = queue_core.get(conn, task.id)
    assert done.state is TaskState.SUCCEEDED and done.result == {"greeting": "hi"}
