"""Mistakes that would otherwise fail the same way forever, or silently: each is named at once.

- ``ctx.transaction()`` in the process pool ends the task dead on its first attempt;
- a thread-pool attempt that outlives its timeout on the last attempt ends ``LeaseExpired``,
  as docs/worker.md says, with the timeout logged and named in the error history;
- a periodic schedule whose queue the worker does not consume is a warning at start;
- the worker's metrics listen on loopback unless ``--metrics-host`` says otherwise.
"""

from __future__ import annotations

import psutil
import pytest
import requests
from sqlalchemy.engine import Engine

from queue_core import TaskState
from taskrow.embedded import free_port

from ..support import wait_for
from .conftest import TIMEOUT, StartWorker, enqueue, fetch

APP = "tests.worker.usability_handlers"


def test_a_transaction_in_the_process_pool_is_a_final_error(
    engine: Engine, start_worker: StartWorker
) -> None:
    task = enqueue(engine, "in_transaction", max_attempts=3)
    start_worker("--pool", "process", "--concurrency", "1", "--poll-only", app=APP)
    wait_for(lambda: fetch(engine, task).state.finished, timeout=TIMEOUT, what="the task to end")
    done = fetch(engine, task)
    assert (done.state, done.attempts) == (TaskState.DEAD, 1)
    assert done.error_type == "TransactionUnavailable"
    assert "--pool thread" in (done.error_message or "")


@pytest.mark.slow  # waits out a timeout and a lease, about 3 s
def test_a_thread_pool_timeout_on_the_last_attempt_ends_lease_expired(
    engine: Engine, start_worker: StartWorker
) -> None:
    task = enqueue(engine, "stuck", max_attempts=1)
    worker = start_worker("--lease", "2", "--poll-only", "--poll-interval", "0.1", app=APP)
    wait_for(lambda: fetch(engine, task).state.finished, timeout=TIMEOUT, what="the task to end")
    done = fetch(engine, task)
    assert (done.state, done.error_type) == (TaskState.DEAD, "LeaseExpired")
    assert "the last of 1 attempts" in (done.error_message or "")
    assert [e["type"] for e in done.errors] == ["LeaseExpired"]
    assert "ran past its timeout" in done.errors[0]["message"]
    worker.wait_log("task.timed_out")
    assert f"task_id={task.id}" in worker.text()


def test_a_periodic_schedule_on_a_queue_not_consumed_is_a_warning(
    start_worker: StartWorker,
) -> None:
    alone = start_worker("--queues", "default", app=APP)
    alone.wait_log("periodic.queue_not_consumed")
    line = next(x for x in alone.text().splitlines() if "periodic.queue_not_consumed" in x)
    assert "WARNING" in line and "task=yearly queue=reports queues=default" in line
    served = start_worker("--queues", "default,reports", app=APP)
    assert "periodic.queue_not_consumed" not in served.text()


def _listening(pid: int, port: int) -> set[str]:
    connections = psutil.Process(pid).net_connections(kind="inet")
    return {c.laddr.ip for c in connections if c.status == "LISTEN" and c.laddr.port == port}


def test_metrics_listen_on_loopback_unless_told_otherwise(start_worker: StartWorker) -> None:
    port, other = free_port(), free_port()
    local = start_worker("--metrics-port", str(port), app=APP)
    wait_for(lambda: _listening(local.pid, port) == {"127.0.0.1"}, timeout=TIMEOUT)
    assert requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).status_code == 200
    remote = start_worker("--metrics-port", str(other), "--metrics-host", "0.0.0.0", app=APP)
    wait_for(lambda: _listening(remote.pid, other) == {"0.0.0.0"}, timeout=TIMEOUT)
    bad = start_worker(
        "--metrics-port", str(port), "--metrics-host", "no.such.host.", app=APP, ready=False
    )
    assert bad.wait_exit(timeout=TIMEOUT) == 1
    assert "Traceback" not in bad.text()
    assert f"Error: cannot serve metrics on no.such.host.:{port}" in bad.text()
