"""A worker's id is unique per process start: two containers may share a host name, and each
worker there may be pid 1, but one worker never adopts another's claims."""

from __future__ import annotations

import re

import pytest
from sqlalchemy.engine import Engine

import queue_core
from worker.config import WorkerConfig

from .conftest import StartWorker, enqueue


def _twins(monkeypatch: pytest.MonkeyPatch) -> tuple[WorkerConfig, WorkerConfig]:
    """Two workers' settings as two containers would build them: same host name, pid 1."""
    monkeypatch.setattr("socket.gethostname", lambda: "web")
    monkeypatch.setattr("os.getpid", lambda: 1)
    return WorkerConfig(queues=("default",)), WorkerConfig(queues=("default",))


def test_ids_of_workers_sharing_host_name_and_pid_differ(monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = _twins(monkeypatch)
    for config in (a, b):  # readable: host and pid first, then the per-start part
        assert re.fullmatch(r"web:1:[0-9a-f]{6}", config.worker_id), config.worker_id
    assert a.worker_id != b.worker_id


def test_a_worker_never_adopts_the_claims_of_its_twin(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = _twins(monkeypatch)
    enqueue(engine, "echo", {"n": 1})
    with engine.begin() as conn:  # B's round committed; its reply was lost
        [of_b] = queue_core.claim(conn, ["default"], 1, worker_id=b.worker_id)
    with engine.begin() as conn:  # A's round failed too: A looks for its own lost claims
        assert queue_core.adopt(conn, [], within=60, worker_id=a.worker_id) == []
    with engine.begin() as conn:  # B finds its own
        [adopted] = queue_core.adopt(conn, [], within=60, worker_id=b.worker_id)
    assert (adopted.id, adopted.lease_token) == (of_b.id, of_b.lease_token)


def test_a_running_worker_logs_its_id(start_worker: StartWorker) -> None:
    proc = start_worker()
    [worker_id] = re.findall(r"worker\.started worker_id=(\S+)", proc.text())
    host, pid, suffix = worker_id.split(":")
    assert (bool(host), int(pid), len(suffix)) == (True, proc.pid, 6), worker_id
