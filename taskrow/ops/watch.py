"""``taskrow watch``: follow one task's stored state and progress until it finishes.

The task is read from the database every ``interval`` seconds (progress is not announced by
NOTIFY, and polling the primary is what every other reader of the status does too). Each read
is its own short connection checkout, so watching never holds a transaction open.

On a terminal the task is drawn as a rich progress bar, redrawn in place, with its rate and
the time left; anywhere else each change is one plain line, and ``--json`` prints one status
record per change.
"""

from __future__ import annotations

import time
import uuid
from typing import Protocol

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TaskProgressColumn,
    TimeRemainingColumn,
)
from rich.progress import Task as ProgressTask
from rich.text import Text
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
    """Off an interactive terminal (a pipe, a file, TERM=dumb): one plain line per change."""

    def update(self, task: Task) -> None:
        render.show(
            Text.assemble(render.state_text(task.state, status_word(task)), "  ", detail(task))
        )

    def finish(self, task: Task) -> None:
        render.show(final_line(task))

    def close(self) -> None:
        """Every line is complete already."""


class Bar:
    """On a terminal: a live progress bar, redrawn in place, with the rate of progress (units
    per second, measured while watching) and the time left at that rate."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            Field("state"),
            Field("attempt"),
            BarColumn(),
            TaskProgressColumn(),
            MofNCompleteColumn(),
            RateColumn(),
            TimeLeftColumn(),
            Field("note"),
            console=console,
        )
        self.bar: TaskID | None = None
        self.attempt = 0

    def update(self, task: Task) -> None:
        if self.bar is None:
            self.progress.start()
            self.bar = self.progress.add_task("", total=None)
        elif task.attempts != self.attempt:  # a new attempt starts its progress over
            self.progress.reset(self.bar)
        self.attempt = task.attempts
        self.progress.update(
            self.bar,
            total=task.progress_total or None,
            completed=task.progress_current or 0,  # as stored, even once finished
            finished=task.state.finished,
            state=render.state_text(task.state, status_word(task)),
            attempt=Text(f"attempt {task.attempts}/{task.max_attempts}"),
            note=Text(note(task)),
        )
        self.progress.refresh()

    def finish(self, task: Task) -> None:
        self.close()
        self.console.print(final_line(task))

    def close(self) -> None:
        self.progress.stop()  # the last frame stays on the screen; the cursor is shown again


class Field(ProgressColumn):
    """The ``name`` field of the bar's task, a styled text."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def render(self, task: ProgressTask) -> Text:
        value = task.fields.get(self.name)
        return value if isinstance(value, Text) else Text()


class RateColumn(ProgressColumn):
    """Progress units per second since the first report seen, ``-/s`` until a second one."""

    def render(self, task: ProgressTask) -> Text:
        speed = task.finished_speed or task.speed
        if speed is None:
            return Text("-/s", style="progress.data.speed")
        return Text(
            f"{speed:.1f}/s" if speed < 100 else f"{speed:,.0f}/s", style="progress.data.speed"
        )


class TimeLeftColumn(TimeRemainingColumn):
    """The time left at the current rate (``-:--:--`` until known), blank once finished."""

    def render(self, task: ProgressTask) -> Text:
        return Text() if task.fields.get("finished") else super().render(task)


def display_for(as_json: bool) -> Display:
    """JSON Lines for scripts; for people, a live bar on a terminal and plain lines elsewhere."""
    if as_json:
        return JsonLines()
    console = render.console()
    return Bar(console) if console.is_interactive else Lines()


def final_line(task: Task) -> Text:
    return Text(outcome(task), style=f"bold {render.STATE_COLOURS[task.state]}")


def status_word(task: Task) -> str:
    if task.state is TaskState.RUNNING and task.cancel_requested:
        return "cancelling"
    return task.state.value


def detail(task: Task) -> str:
    """A plain line after the state: the attempt, then the stored progress or a note."""
    attempt = f"attempt {task.attempts}/{task.max_attempts}"
    if task.state is TaskState.QUEUED or (
        task.progress_current is None and not task.progress_message
    ):
        return f"{attempt}  {note(task)}"
    return f"{attempt}  {render.progress_text(task)}"


def note(task: Task) -> str:
    """What a bar does not show: waiting, nothing reported yet, or the progress message."""
    if task.state is TaskState.QUEUED:
        return "waiting for a worker"
    if task.progress_message:
        return one_line(task.progress_message)
    return "no progress reported yet" if task.progress_current is None else ""


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
