"""Running the real ``taskrow`` console script in subprocesses against a test database."""

from __future__ import annotations

import dataclasses
import os
import pty
import re
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

import queue_core
from queue_core import Task, TaskState

from ..support import wait_for

#: The console script installed next to the interpreter running the tests (.venv/bin/taskrow).
TASKROW = Path(sys.executable).with_name("taskrow")
TIMEOUT = 120  # a deadline against hangs; start-up is slow on a loaded machine

Arg = str | bytes


@dataclasses.dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str

    def ok(self) -> str:
        """stdout of a command that must have succeeded quietly on stderr."""
        assert self.returncode == 0, f"exit {self.returncode}: {self.stderr}"
        assert self.stderr == "", self.stderr
        return self.stdout

    def error(self, code: int = 1) -> str:
        """The one-line message of a command that must have failed cleanly with ``code``."""
        assert self.returncode == code, f"exit {self.returncode}: {self.stdout}{self.stderr}"
        assert "Traceback" not in self.stderr, self.stderr
        lines = self.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), self.stderr
        assert self.stdout == "", self.stdout
        return lines[0]


class Watch:
    """A running ``taskrow watch`` whose stdout lines are collected as they arrive."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for_line(self, text: str) -> None:
        wait_for(
            lambda: any(text in line for line in self.lines),
            timeout=TIMEOUT,
            what=f"watch to print {text!r}",
        )

    def finish(self) -> Result:
        try:
            self.process.wait(timeout=TIMEOUT)
        finally:
            self.process.kill()
        self.reader.join(TIMEOUT)
        assert self.process.stdout is not None and self.process.stderr is not None
        self.process.stdout.close()  # the reader has seen its end
        stderr = self.process.stderr.read()
        self.process.stderr.close()
        return Result(self.process.returncode, "\n".join(self.lines), stderr)


#: An escape sequence: a colour or style (SGR), a cursor move, erasing a line, ...
ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
#: A colour (foreground or background, 16, 256 or true colours) in an SGR sequence.
COLOUR = re.compile(r"\x1b\[(?:[0-9]+;)*(?:3[0-9]|4[0-9]|9[0-7]|10[0-7])(?:;[0-9]+)*m")
#: What rich needs to believe it draws on a colour terminal (TERM=dumb would turn colours off).
TERMINAL_ENV = {"TERM": "xterm-256color", "COLUMNS": "160", "LINES": "40"}


def plain(output: str) -> str:
    """``output`` without escape sequences or carriage returns."""
    return ESCAPE.sub("", output).replace("\r", "")


class Terminal:
    """A ``taskrow`` command whose stdout and stderr are a pseudo-terminal, read as it writes."""

    def __init__(self, args: Sequence[str], env: dict[str, str]) -> None:
        leader, follower = pty.openpty()
        self.leader = leader
        try:
            self.process = subprocess.Popen(
                [str(TASKROW), *args], env=env, stdout=follower, stderr=follower
            )
        finally:
            os.close(follower)
        self.chunks: list[bytes] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        """Until the other side closes (EIO on Linux)."""
        while True:
            try:
                chunk = os.read(self.leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            self.chunks.append(chunk)

    @property
    def output(self) -> str:
        return b"".join(self.chunks).decode(errors="replace")

    def wait_for_text(self, pattern: str) -> re.Match[str]:
        """The first match of the regular expression in the output without escape sequences."""
        return wait_for(
            lambda: re.search(pattern, plain(self.output)),
            timeout=TIMEOUT,
            what=f"the terminal to show {pattern!r}",
        )

    def finish(self) -> tuple[int, str]:
        """The exit code and everything written."""
        try:
            code = self.process.wait(timeout=TIMEOUT)
        finally:
            self.process.kill()
        self.reader.join(TIMEOUT)
        os.close(self.leader)
        return code, self.output


@dataclasses.dataclass(frozen=True)
class Cli:
    env: dict[str, str]
    started: list[subprocess.Popen[Any]] = dataclasses.field(default_factory=list)

    def start(self, *args: Arg) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [str(TASKROW), *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.started.append(process)
        return process

    def kill_all(self) -> None:
        """No process outlives its test, whatever the test's outcome."""
        for process in self.started:
            if process.poll() is None:
                process.kill()
                process.wait(TIMEOUT)
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()

    def run(self, *args: Arg) -> Result:
        return self.run_all([args])[0]

    def run_all(self, commands: Sequence[Sequence[Arg]]) -> list[Result]:
        """Run the commands at the same time (start-up dominates), results in order."""
        return collect([self.start(*args) for args in commands])

    def watch(self, *args: Arg) -> Watch:
        return Watch(self.start("watch", *args))

    def terminal(self, *args: str, **env: str) -> Terminal:
        """``taskrow ARGS`` on a pseudo-terminal, with ``env`` added to the environment."""
        running = Terminal(args, {**self.env, **TERMINAL_ENV, **env})
        self.started.append(running.process)  # killed at teardown should the test fail
        return running


def collect(processes: Sequence[subprocess.Popen[str]]) -> list[Result]:
    """Wait for every process (killing any left over on failure); results in order."""
    results = []
    try:
        for process in processes:
            stdout, stderr = process.communicate(timeout=TIMEOUT)
            results.append(Result(process.returncode, stdout, stderr))
    finally:
        for process in processes:
            process.kill()
    return results


def base_env() -> dict[str, str]:
    """The test's environment without any database settings of the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKROW_")}
    env.pop("DATABASE_URL", None)
    return env


@pytest.fixture
def cli(db_url: str) -> Iterator[Cli]:
    assert TASKROW.exists(), f"console script missing: {TASKROW}"
    runner = Cli({**base_env(), "TASKROW_DATABASE_URL": db_url})
    yield runner
    runner.kill_all()


@pytest.fixture
def seed(engine: Engine) -> Iterator[Seeder]:
    yield Seeder(engine)


@dataclasses.dataclass(frozen=True)
class Seeder:
    """Tasks in a chosen state, made through queue_core as a worker would."""

    engine: Engine

    def queued(self, task: str = "job", queue: str = "default", **kwargs: Any) -> Task:
        with self.engine.begin() as conn:
            return queue_core.enqueue(conn, task, {"n": 1}, queue=queue, **kwargs)

    def claim(self, queue: str) -> Task:
        with self.engine.begin() as conn:
            [claimed] = queue_core.claim(conn, [queue], 1, worker_id="test-worker")
        return claimed

    def running(self, queue: str, **kwargs: Any) -> Task:
        self.queued(queue=queue, **kwargs)
        return self.claim(queue)

    def succeeded(self, queue: str) -> Task:
        claimed = self.running(queue)
        with self.engine.begin() as conn:
            queue_core.complete(conn, claimed.lease, {"ok": True})
        return self.get(claimed)

    def dead(self, queue: str) -> Task:
        claimed = self.running(queue, max_attempts=1)
        self.fail(claimed)
        return self.get(claimed)

    def fail(self, claimed: Task) -> TaskState:
        failure = queue_core.Failure(claimed.lease, "ValueError", "boom")
        with self.engine.begin() as conn:
            return queue_core.fail(conn, failure)

    def get(self, task: Task) -> Task:
        with self.engine.connect() as conn:
            return queue_core.get(conn, task.id)

    def all(self) -> list[Task]:
        with self.engine.connect() as conn:
            return queue_core.list_tasks(conn, limit=1000)
