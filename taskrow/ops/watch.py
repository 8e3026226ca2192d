"""``taskrow watch``: follow one task's stored state and progress until it finishes.

The task is read from the database every ``interval`` seconds (progress is not announced by
NOTIFY, and polling the primary is what every other reader of the status does too). Each read
is its own short connection checkout, so watching never holds a transaction open.
"""

from __future__ import annotations

import time
import uuid
from typing import Protocol

import click
from sqlalchemy.engine import Engine

import queue_core
from queue_core import Task, TaskState

from . import records, render
from .runtime import CommandError, one_line, reading

EXIT_SUCCEEDED = 0
EXIT_DEAD = 3
EXIT_CANCELLED = 4
EXIT_TIMEOUT = 5
EXIT_INTERRUPTED = 130

EXIT_CODES = {
    TaskState.SUCCEEDED: EXIT_SUCCEEDED,
    TaskState.DEAD: EXIT_DEAD,
    TaskState.CANCELLED: EXIT_CANCELLED,
}

EXIT_CODES_HELP = f"""\b
Exit codes:
  {EXIT_SUCCEEDED}    the task succeeded
  1    an error (unknown id, database unavailable, ...)
  2    a malformed command line
  {EXIT_DEAD}    the task is dead (attempts used up, or a non-retryable error)
  {EXIT_CANCELLED}    the task was cancelled
  {EXIT_TIMEOUT}    --timeout passed before the task finished
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C); the task itself is left alone"""


class TimedOut(CommandError):
    """The task did not finish within ``--timeout``."""

    exit_code = EXIT_TIMEOUT


class Display(Protocol):
    def update(self, task: Task) -> None: ...

    def finish(self, task: Task) -> None: ...

    def close(self) -> None:
        """End the output, finished or not (a timeout, Ctrl-C, an error)."""


class JsonLines:
    """One status record per observed change; the last line is the final record."""

    def update(self, task: Task) -> None:
        click.echo(records.dumps(records.task_record(task)))

    def finish(self, task: Task) -> None:
        """The final record was already printed by :meth:`update`."""

    def close(self) -> None:
        """Every line is complete already."""


class Lines:
    """For people: on a terminal, one line redrawn in place; otherwise one line per change."""

    def __init__(self, terminal: bool) -> None:
        self.terminal = terminal
        self.line_open = False  # a redrawn line still awaits its newline

    def update(self, task: Task) -> None:
        state = render.paint(status_word(task), render.STATE_COLOURS[task.state])
        if self.terminal:
            click.echo(f"\r\x1b[2K{state}  {detail(task)}", nl=False)
            self.line_open = True
        else:
            click.echo(f"{state}  {detail(task)}")

    def finish(self, task: Task) -> None:
        self.close()
        click.echo(render.paint(outcome(task), render.STATE_COLOURS[task.state], bold=True))

    def close(self) -> None:
        if self.line_open:
            click.echo()
            self.line_open = False


def status_word(task: Task) -> str:
    if task.state is TaskState.RUNNING and task.cancel_requested:
        return "cancelling"
    return task.state.value


def detail(task: Task) -> str:
    attempt = f"attempt {task.attempts}/{task.max_attempts}"
    if task.state is TaskState.QUEUED:
        return f"{attempt}  waiting for a worker"
    if task.progress_current is None and not task.progress_message:
        return f"{attempt}  no progress reported yet"
    return f"{attempt}  {render.progress_text(task)}"


def outcome(task: Task) -> str:
    """The closing line: the final state, with the result or the error."""
    if task.state is TaskState.SUCCEEDED:
        return f"succeeded  result: {render.short(task.result)}"
    if task.error_type is not None or task.error_message is not None:
        error = one_line(f"{task.error_type}: {task.error_message}")
        return f"{task.state.value}  error: {error}"
    return task.state.value


def follow(
    engine: Engine,
    task_id: str,
    display: Display,
    *,
    schema: str,
    interval: float,
    timeout: float | None,
) -> Task:
    """Show each change of the task until it finishes; returns the finished task.

    Raises :class:`CommandError` (exit 5) when ``timeout`` seconds pass first.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    seen: tuple[object, ...] | None = None
    try:
        while True:
            task = read(engine, task_id, schema)
            if change_key(task) != seen:
                display.update(task)
                seen = change_key(task)
            if task.state.finished:
                display.finish(task)
                return task
            if deadline is not None and time.monotonic() >= deadline:
                raise TimedOut(f"task {task.id} is still {task.state.value} after {timeout:g}s")
            time.sleep(interval)
    finally:
        display.close()


def change_key(task: Task) -> tuple[object, ...]:
    """What, when it changes, is worth showing again."""
    return (
        task.state,
        task.attempts,
        task.cancel_requested,
        task.progress_current,
        task.progress_total,
        task.progress_message,
    )


def read(engine: Engine, task_id: str | uuid.UUID, schema: str) -> Task:
    with reading(engine) as conn:
        return queue_core.get(conn, task_id, schema=schema)
