"""Worker processes for the tests: real ``taskrow worker`` subprocesses, always killed."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

import queue_core
from queue_core import Task

from ..support import wait_for

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 60.0
#: Deadline for things that take well under a second on an idle machine.
TIMEOUT = 30.0


class WorkerProcess:
    """A running ``taskrow worker``; its stderr (the log) goes to a file."""

    def __init__(self, db_url: str, log: Path, args: list[str]) -> None:
        self.log = log
        env = {**os.environ, "TASKROW_DATABASE_URL": db_url, "PYTHONUNBUFFERED": "1"}
        command = [sys.executable, "-m", "taskrow.cli", "worker", *args]
        with log.open("wb") as sink:
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=sink, stdout=sink)

    @property
    def pid(self) -> int:
        return self.process.pid

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_log(self, fragment: str, timeout: float = TIMEOUT) -> None:
        try:
            wait_for(lambda: fragment in self.text(), timeout=timeout, what=f"{fragment!r} in log")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; log:\n{self.text()}") from None

    def wait_exit(self, timeout: float = TIMEOUT) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"worker still running; log:\n{self.text()}") from exc

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


StartWorker = Callable[..., WorkerProcess]


@pytest.fixture
def start_worker(db_url: str, tmp_path: Path) -> Iterator[StartWorker]:
    """Start ``taskrow worker --app tests.worker.handlers`` with extra args; killed at the end."""
    started: list[WorkerProcess] = []

    def start(
        *args: str, url: str = db_url, app: str = "tests.worker.handlers", ready: bool = True
    ) -> WorkerProcess:
        log = tmp_path / f"worker-{len(started)}.log"
        default = ["--queues", "default"] if "--queues" not in args else []
        proc = WorkerProcess(url, log, ["--app", app, *default, *args])
        started.append(proc)
        if ready:  # interpreter start-up is slow on a loaded machine: not part of any deadline
            proc.wait_log("worker.started", timeout=STARTUP_TIMEOUT)
        return proc

    try:
        yield start
    finally:
        for proc in started:
            proc.kill()


def fetch(engine: Engine, task: Task) -> Task:
    with engine.connect() as conn:
        return queue_core.get(conn, task.id)


def enqueue(engine: Engine, task: str, args: dict[str, object] | None = None, **kw: object) -> Task:
    with engine.begin() as conn:
        return queue_core.enqueue(conn, task, args, **kw)  # type: ignore[arg-type]
