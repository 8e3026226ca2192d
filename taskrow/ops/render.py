"""Output for people, drawn with rich: tables, a task's details, coloured states.

On a terminal the states are coloured (not when ``NO_COLOR`` is set; ``FORCE_COLOR`` makes any
stdout count as a terminal). Anywhere else the output is plain text: the same columns, wide
enough that no row wraps, without escape codes or trailing blanks, so scripts can parse it.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime

import click
from rich.console import Console, Group, JustifyMethod, RenderableType
from rich.table import Table
from rich.text import Text

from queue_core import QueueStats, Task, TaskState

from .runtime import one_line

STATE_COLOURS = {
    TaskState.QUEUED: "blue",
    TaskState.RUNNING: "cyan",
    TaskState.SUCCEEDED: "green",
    TaskState.DEAD: "red",
    TaskState.CANCELLED: "yellow",
}
BAR_WIDTH = 24
MAX_VALUE_WIDTH = 200
PLAIN_WIDTH = 10_000  # columns of a console that is not a terminal: rows never wrap


def console() -> Console:
    """A console on stdout: a terminal's own width, or :data:`PLAIN_WIDTH` elsewhere.

    Text is never read as rich markup or emoji codes: task names, args and errors print as-is.
    """
    out = Console(highlight=False, markup=False, emoji=False)
    if out.is_terminal:
        return out
    return Console(highlight=False, markup=False, emoji=False, width=PLAIN_WIDTH, height=25)


def show(renderable: RenderableType) -> None:
    """Print ``renderable`` on stdout; off a terminal as plain lines without trailing blanks."""
    out = console()
    if out.is_terminal:
        out.print(renderable)
        return
    with out.capture() as captured:
        out.print(renderable)
    click.echo("\n".join(line.rstrip() for line in captured.get().splitlines()))


def state_text(state: TaskState, text: str | None = None) -> Text:
    """A state's name (or ``text``) in the state's colour."""
    return Text(state.value if text is None else text, style=STATE_COLOURS[state])


def table(
    headers: Sequence[str], rows: Sequence[Sequence[Text]], right: Collection[int] = ()
) -> Table:
    """Columns two blanks apart, bold headings, no borders; columns in ``right`` right-aligned.

    On a narrow terminal, cells wrap rather than being cut short, and the first column (an id
    or a queue's name, to copy) never wraps.
    """
    grid = Table(box=None, pad_edge=False, header_style="bold")
    for i, header in enumerate(headers):
        justify: JustifyMethod = "right" if i in right else "left"
        grid.add_column(header, justify=justify, overflow="fold", no_wrap=i == 0)
    for row in rows:
        grid.add_row(*row)
    return grid


def duration(seconds: float) -> str:
    """``45s``, ``3m05s``, ``2h10m``, ``7d``, ``4d03h``: two units at most, a zero one omitted."""
    whole = int(seconds)
    for size, unit, sub_size, sub_unit in _UNITS:
        if whole >= size:
            rest = (whole % size) // sub_size
            return (
                f"{whole // size}{unit}{rest:02d}{sub_unit}" if rest else f"{whole // size}{unit}"
            )
    return f"{seconds:.1f}s" if seconds < 10 else f"{whole}s"


_UNITS = ((86400, "d", 3600, "h"), (3600, "h", 60, "m"), (60, "m", 1, "s"))


def when(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def progress_text(task: Task) -> str:
    """``[#####...] 50% 5/10 copying``, ``7 (no total)`` or ``-`` when nothing was reported."""
    current, total = task.progress_current, task.progress_total
    message = f" {one_line(task.progress_message)}" if task.progress_message else ""
    if current is None:
        return f"-{message}" if message else "-"
    if not total:
        return f"{current} (no total){message}"
    ratio = min(max(current / total, 0.0), 1.0)
    filled = round(ratio * BAR_WIDTH)
    bar = "#" * filled + "." * (BAR_WIDTH - filled)
    return f"[{bar}] {ratio:4.0%} {current}/{total}{message}"


def short(value: object) -> str:
    """A JSON value on one line, cut to a readable length."""
    text = json.dumps(value)
    return text if len(text) <= MAX_VALUE_WIDTH else text[: MAX_VALUE_WIDTH - 3] + "..."


def task_details(task: Task) -> Table:
    """Every field an operator looks at, one per line, labels aligned."""
    fields: list[tuple[str, Text]] = [
        ("id", Text(str(task.id))),
        ("task", Text(task.task)),
        ("queue", Text(task.queue)),
        ("state", state_text(task.state, _state_word(task))),
        ("attempt", Text(f"{task.attempts} of {task.max_attempts}")),
        ("progress", Text(progress_text(task))),
        ("priority", Text(str(task.priority))),
        ("lease until" if task.state is TaskState.RUNNING else "run at", Text(when(task.run_at))),
        ("created", Text(when(task.created_at))),
        ("started", Text(when(task.started_at))),
        ("finished", Text(when(task.finished_at))),
        ("args", Text(short(task.args))),
    ]
    if task.error_type is not None or task.error_message is not None:
        error = one_line(f"{task.error_type}: {task.error_message}")
        fields.append(("error", Text(error, style="red")))
    if task.state is TaskState.SUCCEEDED:
        fields.append(("result", Text(short(task.result))))
    fields += error_history_fields(task)
    grid = Table.grid(padding=(0, 2, 0, 0))
    for label, value in fields:
        grid.add_row(Text(label), value)
    return grid


def error_history_fields(task: Task) -> list[tuple[str, Text]]:
    """One line per recent attempt that ended without succeeding, oldest first."""
    return [
        (
            "errors" if index == 0 else "",
            Text(
                one_line(f"attempt {e.get('attempt')}: {e.get('type')}: {e.get('message')}"[:200]),
                style="red",
            ),
        )
        for index, e in enumerate(task.errors)
    ]


def _state_word(task: Task) -> str:
    if task.state is TaskState.RUNNING and task.cancel_requested:
        return "running (cancel requested)"
    return task.state.value


def task_rows(tasks: Sequence[Task]) -> Table:
    headers = ["ID", "TASK", "QUEUE", "STATE", "ATTEMPT", "PROGRESS", "CREATED"]
    rows = [
        [
            Text(str(task.id)),
            Text(task.task),
            Text(task.queue),
            state_text(task.state),
            Text(f"{task.attempts}/{task.max_attempts}"),
            Text(_progress_cell(task)),
            Text(when(task.created_at)),
        ]
        for task in tasks
    ]
    return table(headers, rows, right={4})


def _progress_cell(task: Task) -> str:
    if task.progress_current is None:
        return "-"
    if task.progress_total:
        return f"{task.progress_current}/{task.progress_total}"
    return str(task.progress_current)


def stats_table(
    entries: Sequence[QueueStats], workers: Mapping[str, int] | None = None
) -> RenderableType:
    """One row per queue; ``workers`` (live consumers per queue) adds a WORKERS column and a
    warning line per queue whose queued tasks no live worker consumes."""
    consumers = workers or {}
    headers = ["QUEUE", *(state.value.upper() for state in TaskState), "OLDEST DUE"]
    if workers is not None:
        headers.append("WORKERS")
    rows = [
        [
            Text(entry.queue),
            *(_count_cell(state, entry.counts.get(state, 0)) for state in TaskState),
            Text("-" if entry.oldest_due_age is None else duration(entry.oldest_due_age)),
            *([_workers_cell(consumers.get(entry.queue, 0))] if workers is not None else []),
        ]
        for entry in entries
    ]
    grid = table(headers, rows, right=range(1, len(headers)))
    if workers is None:
        return grid
    warnings = [
        Text(
            f"warning: queue {entry.queue} holds {entry.counts[TaskState.QUEUED]} queued "
            "task(s) but no live worker consumes it (start one with --queues "
            f"{entry.queue})",
            style="red",
        )
        for entry in entries
        if not consumers.get(entry.queue) and entry.counts.get(TaskState.QUEUED, 0)
    ]
    return Group(grid, *warnings)


def _workers_cell(count: int) -> Text:
    return Text(str(count), style="" if count else "red")


def _count_cell(state: TaskState, count: int) -> Text:
    return Text(str(count), style="red" if state is TaskState.DEAD and count else "")
