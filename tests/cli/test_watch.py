"""``taskrow watch`` follows a task driven from the test, as a worker would drive it, and exits
with a code that tells how the task ended."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess

import pytest

import queue_core
from queue_core import TaskState

from .conftest import TASKROW, TIMEOUT, Cli, Seeder


def test_watch_shows_stored_progress_and_exits_0_on_success(cli: Cli, seed: Seeder) -> None:
    task = seed.queued(queue="w")
    watch = cli.watch(str(task.id), "--interval", "0.05")
    watch.wait_for_line("queued")
    claimed = seed.claim("w")
    with seed.engine.begin() as conn:
        queue_core.progress(conn, claimed.lease, 2, 4, "copying")
    watch.wait_for_line("2/4 copying")
    with seed.engine.begin() as conn:
        queue_core.complete(conn, claimed.lease, {"copied": 4})
    result = watch.finish()
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "\x1b" not in result.stdout and "\r" not in result.stdout, "plain text in a pipe"
    lines = result.stdout.splitlines()
    assert lines[0] == "queued  attempt 0/3  waiting for a worker"
    assert "running  attempt 1/3  [############............]  50% 2/4 copying" in lines
    assert lines[-1] == 'succeeded  result: {"copied": 4}'


@pytest.mark.slow  # waits out a watch timeout, about 4 s
def test_watch_exit_codes_dead_cancelled_timeout_interrupted(cli: Cli, seed: Seeder) -> None:
    doomed = seed.queued(queue="d", max_attempts=1)
    dropped = seed.queued(queue="c")
    waiting = seed.queued(queue="idle")
    dead = cli.watch(str(doomed.id), "--interval", "0.05", "--json")
    cancelled = cli.watch(str(dropped.id), "--interval", "0.05")
    timeout = cli.watch(str(waiting.id), "--interval", "0.05", "--timeout", "0.5")
    interrupted = cli.watch(str(waiting.id), "--interval", "0.05")
    dead.wait_for_line('"state":"queued"')
    cancelled.wait_for_line("queued")
    interrupted.wait_for_line("queued")
    interrupted.process.send_signal(signal.SIGINT)
    seed.fail(seed.claim("d"))
    with seed.engine.begin() as conn:
        queue_core.cancel(conn, dropped.id)

    on_dead, on_cancel, on_timeout = dead.finish(), cancelled.finish(), timeout.finish()
    on_interrupt = interrupted.finish()
    assert on_dead.returncode == 3, on_dead.stderr
    final = json.loads(on_dead.stdout.splitlines()[-1])
    assert (final["id"], final["state"], final["attempt"]) == (str(doomed.id), "dead", 1)
    assert final["error"] == {"type": "ValueError", "message": "boom"}
    assert on_cancel.returncode == 4, on_cancel.stderr
    assert on_cancel.stdout.splitlines()[-1] == "cancelled"
    assert on_timeout.returncode == 5
    assert on_timeout.stderr.strip() == f"Error: task {waiting.id} is still queued after 0.5s"
    assert on_interrupt.returncode == 130 and "Traceback" not in on_interrupt.stderr
    assert seed.get(waiting).state is TaskState.QUEUED, "watching never changes the task"


def test_colours_and_redrawing_only_on_a_terminal(cli: Cli, seed: Seeder) -> None:
    done = seed.succeeded("t")
    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen(
            [str(TASKROW), "watch", str(done.id)], env=cli.env, stdout=follower, stderr=follower
        )
        cli.started.append(process)  # killed at teardown should anything below fail
        os.close(follower)
        output = read_all(leader)
        assert process.wait(timeout=TIMEOUT) == 0
    finally:
        os.close(leader)
    assert "\r\x1b[2K" in output, "the progress line is redrawn in place"
    assert "\x1b[32msucceeded" in output, "the state is coloured"


def read_all(fd: int) -> str:
    """Everything written to a pty until the other side closes (EIO on Linux)."""
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode()
