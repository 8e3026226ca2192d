"""Output for people: aligned tables, durations, progress bars and a task's details.

Colours are added with ``click.style`` and printed with ``click.echo``, which drops them
unless stdout is a terminal, so piped output stays plain text.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import click

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


@dataclasses.dataclass(frozen=True)
class Cell:
    """A table cell: its text (which sets the width) and an optional colour."""

    text: str
    colour: str | None = None


def state_cell(state: TaskState) -> Cell:
    return Cell(state.value, STATE_COLOURS[state])


def table(headers: Sequence[str], rows: Sequence[Sequence[Cell]], right: frozenset[int]) -> str:
    """Columns padded to their widest cell; columns in ``right`` are right-aligned."""
    widths = [max([len(h), *(len(row[i].text) for row in rows)]) for i, h in enumerate(headers)]
    lines = [_line([Cell(h) for h in headers], widths, right, bold=True)]
    lines.extend(_line(row, widths, right) for row in rows)
    return "\n".join(lines)


def _line(
    cells: Sequence[Cell], widths: list[int], right: frozenset[int], bold: bool = False
) -> str:
    parts = []
    for i, cell in enumerate(cells):
        if i in right:
            padded = cell.text.rjust(widths[i])
        else:  # the last column is not padded: no trailing blanks
            padded = cell.text if i == len(cells) - 1 else cell.text.ljust(widths[i])
        parts.append(paint(padded, cell.colour, bold=bold))
    return "  ".join(parts)


def paint(text: str, colour: str | None, *, bold: bool = False) -> str:
    """``text`` styled only when there is a style to apply (no stray reset codes)."""
    if colour is None and not bold:
        return text
    return click.style(text, fg=colour, bold=bold or None)


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


def task_details(task: Task) -> str:
    """Every field an operator looks at, one per line, labels aligned."""
    fields: list[tuple[str, str, str | None]] = [
        ("id", str(task.id), None),
        ("task", task.task, None),
        ("queue", task.queue, None),
        ("state", _state_text(task), STATE_COLOURS[task.state]),
        ("attempt", f"{task.attempts} of {task.max_attempts}", None),
        ("progress", progress_text(task), None),
        ("priority", str(task.priority), None),
        ("lease until" if task.state is TaskState.RUNNING else "run at", when(task.run_at), None),
        ("created", when(task.created_at), None),
        ("started", when(task.started_at), None),
        ("finished", when(task.finished_at), None),
        ("args", short(task.args), None),
    ]
    if task.error_type is not None or task.error_message is not None:
        fields.append(("error", one_line(f"{task.error_type}: {task.error_message}"), "red"))
    if task.state is TaskState.SUCCEEDED:
        fields.append(("result", short(task.result), None))
    fields += error_history_fields(task)
    width = max(len(label) for label, _, _ in fields)
    return "\n".join(
        f"{label.ljust(width)}  {paint(value, colour)}" for label, value, colour in fields
    )


def error_history_fields(task: Task) -> list[tuple[str, str, str | None]]:
    """One line per recent attempt that ended without succeeding, oldest first."""
    return [
        (
            "errors" if index == 0 else "",
            one_line(f"attempt {e.get('attempt')}: {e.get('type')}: {e.get('message')}"[:200]),
            "red",
        )
        for index, e in enumerate(task.errors)
    ]


def _state_text(task: Task) -> str:
    if task.state is TaskState.RUNNING and task.cancel_requested:
        return "running (cancel requested)"
    return task.state.value


def task_rows(tasks: Sequence[Task]) -> str:
    headers = ["ID", "TASK", "QUEUE", "STATE", "ATTEMPT", "PROGRESS", "CREATED"]
    rows = [
        [
            Cell(str(task.id)),
            Cell(task.task),
            Cell(task.queue),
            state_cell(task.state),
            Cell(f"{task.attempts}/{task.max_attempts}"),
            Cell(_progress_cell(task)),
            Cell(when(task.created_at)),
        ]
        for task in tasks
    ]
    return table(headers, rows, right=frozenset({4}))


def _progress_cell(task: Task) -> str:
    if task.progress_current is None:
        return "-"
    if task.progress_total:
        return f"{task.progress_current}/{task.progress_total}"
    return str(task.progress_current)


def stats_table(entries: Sequence[QueueStats], workers: Mapping[str, int] | None = None) -> str:
    """One row per queue; ``workers`` (live consumers per queue) adds a WORKERS column and a
    warning line per queue whose queued tasks no live worker consumes."""
    consumers = workers or {}
    headers = ["QUEUE", *(state.value.upper() for state in TaskState), "OLDEST DUE"]
    if workers is not None:
        headers.append("WORKERS")
    rows = [
        [
            Cell(entry.queue),
            *(_count_cell(state, entry.counts.get(state, 0)) for state in TaskState),
            Cell("-" if entry.oldest_due_age is None else duration(entry.oldest_due_age)),
            *([_workers_cell(consumers.get(entry.queue, 0))] if workers is not None else []),
        ]
        for entry in entries
    ]
    text = table(headers, rows, right=frozenset(range(1, len(headers))))
    if workers is None:
        return text
    warnings = [
        paint(
            f"warning: queue {entry.queue} holds {entry.counts[TaskState.QUEUED]} queued "
            "task(s) but no live worker consumes it (start one with --queues "
            f"{entry.queue})",
            "red",
        )
        for entry in entries
        if not consumers.get(entry.queue) and entry.counts.get(TaskState.QUEUED, 0)
    ]
    return "\n".join([text, *warnings])


def _workers_cell(count: int) -> Cell:
    return Cell(str(count), None if count else "red")


def _count_cell(state: TaskState, count: int) -> Cell:
    colour = "red" if state is TaskState.DEAD and count else None
    return Cell(str(count), colour)
