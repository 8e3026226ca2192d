"""``taskrow watch`` follows a task driven from the test, as a worker would drive it, and exits
with a code that tells how the task ended."""

from __future__ import annotations

import json
import signal

import pytest

import queue_core
from queue_core import Task, TaskState

from .conftest import Cli, Seeder, plain


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


def test_on_a_terminal_a_live_bar_with_rate_and_time_left(cli: Cli, seed: Seeder) -> None:
    task = seed.queued(queue="t")
    terminal = cli.terminal("watch", str(task.id), "--interval", "0.05")
    terminal.wait_for_text(r"queued\s+attempt 0/3 .*waiting for a worker")
    claimed = seed.claim("t")
    report(seed, claimed, 1, "copying")
    terminal.wait_for_text(r"running\s+attempt 1/3 .* 1/10 .*copying")
    report(seed, claimed, 4, "still copying")
    found = terminal.wait_for_text(r"━+\s+40%\s+4/10\s+(\d[\d,.]*)/s\s+(\d+):(\d\d):(\d\d)")
    rate, hours, minutes, seconds = found.groups()
    assert float(rate.replace(",", "")) > 0
    assert int(hours) * 3600 + int(minutes) * 60 + int(seconds) > 0, "six units are left"
    with seed.engine.begin() as conn:
        queue_core.complete(conn, claimed.lease, {"copied": 10})
    code, output = terminal.finish()
    assert code == 0, output
    assert "\x1b[?25l" in output and "\r\x1b[2K" in output, "the bar is redrawn in place"
    assert "\x1b[36mrunning" in output and "\x1b[32msucceeded" in output, "states are coloured"
    assert plain(output).splitlines()[-1] == 'succeeded  result: {"copied": 10}'


def report(seed: Seeder, claimed: Task, current: int, message: str) -> None:
    with seed.engine.begin() as conn:
        queue_core.progress(conn, claimed.lease, current, 10, message)
