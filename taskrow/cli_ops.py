"""CLI commands for operators over queue_core: enqueue, status, watch, ls, stats, cancel, retry,
prune.

Each command reads the database from the environment (TASKROW_DATABASE_URL or DATABASE_URL,
schema TASKROW_SCHEMA), prints for people by default and JSON with ``--json``, and reports any
error as one line on stderr with a non-zero exit (see :mod:`taskrow.ops`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click
from rich.console import Group, RenderableType
from rich.text import Text

import queue_core
from queue_core import Task, TaskState

from .ops import records, render
from .ops import watch as watching
from .ops.params import Cursor, Duration, JsonObject, Timestamp, cursor_after
from .ops.runtime import OneLineUsageError, OpsCommand, open_engine, settings

commands: list[click.Command] = []

JSON_OPTION = click.option(
    "--json", "as_json", is_flag=True, help="Print JSON for scripts instead of text for people."
)
TASK_ID = click.argument("task_id", metavar="ID")


def register(command: click.Command) -> click.Command:
    commands.append(command)
    return command


def emit(as_json: bool, document: object, text: RenderableType) -> None:
    """``document`` as one line of JSON, or ``text`` for people (a plain string as it is)."""
    if as_json:
        click.echo(records.dumps(document))
    elif isinstance(text, str):
        click.echo(text)
    else:
        render.show(text)


@register
@click.command(cls=OpsCommand)
@click.argument("task")
@click.option("--args", type=JsonObject(), help="Arguments, as a JSON object.  [default: {}]")
@click.option("--queue", default=queue_core.DEFAULT_QUEUE, show_default=True, help="Queue name.")
@click.option("--priority", type=int, default=0, show_default=True, help="Higher runs first.")
@click.option(
    "--delay",
    type=Duration(unit_required=False),
    help="Run no sooner than this from now: seconds, or 30s, 10m, 2h, 1d.",
)
@click.option("--run-at", type=Timestamp(), help="Run no sooner than this RFC 3339 time.")
@click.option("--max-attempts", type=int, default=3, show_default=True, help="Attempts in all.")
@click.option("--timeout", "timeout_seconds", type=int, help="Seconds one attempt may run.")
@click.option("--idempotency-key", help="Enqueueing the same content again returns this task.")
@JSON_OPTION
@click.pass_context
def enqueue(
    ctx: click.Context,
    task: str,
    args: dict[str, Any] | None,
    queue: str,
    priority: int,
    delay: float | None,
    run_at: datetime | None,
    max_attempts: int,
    timeout_seconds: int | None,
    idempotency_key: str | None,
    as_json: bool,
) -> None:
    """Add a task to a queue; prints its id (the whole status record with --json).

    \b
    Example:
      taskrow enqueue send_email --args '{"to": "a@example.com"}' --queue emails --delay 10m
    """
    if delay is not None and run_at is not None:
        raise OneLineUsageError("give --delay or --run-at, not both", ctx)
    config = settings()
    with open_engine(config) as engine, queue_core.transaction(engine) as conn:
        created = queue_core.enqueue(
            conn,
            task,
            args,
            queue=queue,
            priority=priority,
            run_at=run_at,
            delay=delay,
            max_attempts=max_attempts,
            timeout_seconds=timeout_seconds,
            idempotency_key=idempotency_key,
            schema=config.schema,
        )
    emit(as_json, records.task_record(created), str(created.id))


@register
@click.command(cls=OpsCommand)
@TASK_ID
@JSON_OPTION
def status(task_id: str, as_json: bool) -> None:
    """Show one task: state, attempt, progress, times, args, error and result."""
    config = settings()
    with open_engine(config) as engine, queue_core.connection(engine) as conn:
        task = queue_core.get(conn, task_id, schema=config.schema)
    emit(as_json, records.task_record(task), render.task_details(task))


@register
@click.command(cls=OpsCommand, epilog=watching.EXIT_CODES_HELP)
@TASK_ID
@click.option(
    "--interval",
    type=click.FloatRange(0.05, 60.0),
    default=0.5,
    show_default=True,
    help="Seconds between reads of the task.",
)
@click.option(
    "--timeout", type=Duration(unit_required=False), help="Give up after this long (exit 5)."
)
@JSON_OPTION
@click.pass_context
def watch(
    ctx: click.Context, task_id: str, interval: float, timeout: float | None, as_json: bool
) -> None:
    """Follow a task until it finishes, with a progress bar fed by its stored progress.

    The exit code tells how it ended. With --json, one status record is printed per change
    (JSON Lines); the last line is the final record.
    """
    config = settings()
    display = watching.display_for(as_json)
    try:
        with open_engine(config) as engine:
            task = watching.follow(
                engine, task_id, display, schema=config.schema, interval=interval, timeout=timeout
            )
    except KeyboardInterrupt:
        click.echo(err=True)
        ctx.exit(watching.EXIT_INTERRUPTED)
    ctx.exit(watching.EXIT_CODES[task.state])


@register
@click.command("ls", cls=OpsCommand)
@click.option("--queue", help="Only this queue.")
@click.option(
    "--state", type=click.Choice([state.value for state in TaskState]), help="Only this state."
)
@click.option("--limit", type=int, default=20, show_default=True, help="Tasks per page (1-1000).")
@click.option("--before", type=Cursor(), help="Show the page after this cursor (from a full page).")
@JSON_OPTION
def list_tasks(
    queue: str | None,
    state: str | None,
    limit: int,
    before: tuple[datetime, Any] | None,
    as_json: bool,
) -> None:
    """List tasks, newest first, a page at a time.

    A full page ends with the cursor of the next one (`next_cursor` with --json).
    """
    config = settings()
    with open_engine(config) as engine, queue_core.connection(engine) as conn:
        tasks = queue_core.list_tasks(
            conn, queue=queue, state=state, before=before, limit=limit, schema=config.schema
        )
    next_cursor = cursor_after(tasks[-1]) if len(tasks) == limit else None
    document = {"tasks": [records.task_record(t) for t in tasks], "next_cursor": next_cursor}
    emit(as_json, document, list_text(tasks, next_cursor, queue, state, limit))


def list_text(
    tasks: list[Task], next_cursor: str | None, queue: str | None, state: str | None, limit: int
) -> RenderableType:
    if not tasks:
        return "no tasks"
    if next_cursor is None:
        return render.task_rows(tasks)
    filters = "".join(
        f" --{name} {value}" for name, value in (("queue", queue), ("state", state)) if value
    )
    more = f"next page: taskrow ls{filters} --limit {limit} --before {next_cursor}"
    return Group(render.task_rows(tasks), Text(), Text(more, no_wrap=True, overflow="ignore"))


@register
@click.command(cls=OpsCommand)
@JSON_OPTION
def stats(as_json: bool) -> None:
    """Count tasks per queue and state, with the age of each queue's oldest due task.

    The oldest due age is how long the longest-waiting runnable task of the queue has been
    due: a growing value means the workers are not keeping up. WORKERS counts the live workers
    consuming the queue; a queue with queued tasks and none is flagged with a warning.
    """
    config = settings()
    with open_engine(config) as engine, queue_core.connection(engine) as conn:
        entries = sorted(queue_core.stats(conn, schema=config.schema), key=lambda e: e.queue)
        workers = queue_core.queue_consumers(conn, schema=config.schema)
    text: RenderableType = render.stats_table(entries, workers) if entries else "no tasks"
    document = {"queues": [records.stats_record(e, workers.get(e.queue, 0)) for e in entries]}
    emit(as_json, document, text)


@register
@click.command(cls=OpsCommand)
@TASK_ID
@JSON_OPTION
def cancel(task_id: str, as_json: bool) -> None:
    """Cancel a task: a queued one at once, a running one at its worker's next heartbeat.

    A finished task cannot be cancelled (an error, exit 1).
    """
    config = settings()
    with open_engine(config) as engine, queue_core.transaction(engine) as conn:
        task = queue_core.cancel(conn, task_id, schema=config.schema)
    if task.state is TaskState.CANCELLED:
        text = f"cancelled {task.id}"
    else:
        text = f"cancel requested for {task.id}: it is running; its worker stops it soon"
    emit(as_json, records.task_record(task), text)


@register
@click.command(cls=OpsCommand)
@click.argument("task_id", metavar="[ID]", required=False)
@click.option("--queue", help="Re-drive every dead task of this queue instead of one task.")
@JSON_OPTION
@click.pass_context
def retry(ctx: click.Context, task_id: str | None, queue: str | None, as_json: bool) -> None:
    """Re-drive a dead task (queued again now, its attempts start over), or with --queue every
    dead task of a queue.

    Only a dead task can be retried (anything else is an error, exit 1).
    """
    if (task_id is None) == (queue is None):
        raise OneLineUsageError("give either a task ID or --queue QUEUE", ctx)
    config = settings()
    if queue is not None:
        retry_queue(queue, config.schema, as_json)
    else:
        retry_one(str(task_id), config.schema, as_json)


def retry_one(task_id: str, schema: str, as_json: bool) -> None:
    with open_engine(settings()) as engine, queue_core.transaction(engine) as conn:
        task = queue_core.retry(conn, task_id, schema=schema)
    emit(as_json, records.task_record(task), f"retried {task.id}: {task.state.value}")


def retry_queue(queue: str, schema: str, as_json: bool) -> None:
    with open_engine(settings()) as engine, queue_core.transaction(engine) as conn:
        count = queue_core.retry_queue(conn, queue, schema=schema)
    text = f"retried {count} dead task{plural(count)} in queue {queue}"
    emit(as_json, {"queue": queue, "retried": count}, text)


def plural(count: int) -> str:
    return "" if count == 1 else "s"


@register
@click.command(cls=OpsCommand)
@click.option(
    "--older-than",
    type=Duration(unit_required=True),
    required=True,
    help="Age since finishing: 7d, 12h, 30m, 45s, 1d12h.",
)
@click.option("--batch-size", type=int, default=1000, show_default=True, help="Rows per batch.")
@JSON_OPTION
def prune(older_than: float, batch_size: int, as_json: bool) -> None:
    """Delete finished tasks (succeeded, dead, cancelled) that finished longer ago than
    --older-than, in batches, each its own short transaction. Queued and running tasks are
    never touched."""
    config = settings()
    with open_engine(config) as engine:
        count = queue_core.prune_all(
            engine, older_than=older_than, batch_size=batch_size, schema=config.schema
        )
    age = render.duration(older_than)
    text = f"pruned {count} task{plural(count)} finished more than {age} ago"
    emit(as_json, {"pruned": count, "older_than_seconds": older_than}, text)


from .bench import bench as _bench  # noqa: E402

commands.append(_bench)
