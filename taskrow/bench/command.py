"""``taskrow bench SCENARIO``: the click command."""

from __future__ import annotations

import os
import subprocess

import click

from queue_core import TaskrowError, translate_errors

from ..config import Settings
from ..embedded import EmbeddedPostgresError
from .drain import Layout
from .http import ServerLayout
from .procs import BenchError
from .scenarios import SCENARIOS, Options
from .server import server

DEFAULT_LAYOUTS = "1x10,1x100,2x100,2x200,2x400"
DEFAULT_PEER_LAYOUTS = "1x10,1x100,2x10,2x100"


def _layouts(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[Layout, ...]:
    try:
        return tuple(Layout.parse(part.strip()) for part in value.split(",") if part.strip())
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


def _server_layouts(
    _ctx: click.Context, _param: click.Parameter, value: str
) -> tuple[ServerLayout, ...]:
    try:
        return tuple(ServerLayout.parse(part.strip()) for part in value.split(",") if part.strip())
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


@click.command("bench")
@click.argument("scenario", type=click.Choice(sorted(SCENARIOS)))
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option(
    "--compare", is_flag=True, help="Also measure PgQueuer 1.6 and the raw-SQL ceiling (pgbench)."
)
@click.option("--tasks", type=click.IntRange(1), help="Tasks (drain 20,000; bulk, memory 100,000).")
@click.option(
    "--repeat",
    type=click.IntRange(1, 20),
    default=3,
    show_default=True,
    help="Runs; the median is reported.",
)
@click.option(
    "--layout",
    "layouts",
    default=DEFAULT_LAYOUTS,
    show_default=True,
    callback=_layouts,
    help="taskrow layouts PROCESSESxCONCURRENCY searched, comma-separated; drain always adds "
    "1x10, the defaults (history uses the first).",
)
@click.option(
    "--peer-layouts",
    "peer_layouts",
    default=DEFAULT_PEER_LAYOUTS,
    show_default=True,
    callback=_layouts,
    help="drain --compare: PgQueuer layouts PROCESSESxBATCH_SIZE searched; 1x10 (its defaults) "
    "is always among them.",
)
@click.option(
    "--procrastinate-layouts",
    "procrastinate_layouts",
    default="1x1,1x10,2x10",
    show_default=True,
    callback=_layouts,
    help="drain --compare: procrastinate layouts PROCESSESxCONCURRENCY searched (1x1, its "
    "defaults, always among them; 5,000 jobs); '' for none.",
)
@click.option(
    "--batch",
    type=click.IntRange(1, 10_000),
    default=1000,
    show_default=True,
    help="enqueue-bulk: rows per enqueue_many.",
)
@click.option(
    "--writers",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="enqueue-bulk: connections loading in parallel (as many as pgbench's ceiling uses).",
)
@click.option(
    "--rate",
    type=click.FloatRange(1, 5000),
    default=200,
    show_default=True,
    help="latency: enqueues per second.",
)
@click.option(
    "--seconds",
    type=click.IntRange(1, 3600),
    default=10,
    show_default=True,
    help="latency, enqueue-http: duration.",
)
@click.option(
    "--connections",
    type=click.IntRange(1, 1000),
    default=16,
    show_default=True,
    help="enqueue-http: wrk connections.",
)
@click.option(
    "--http-layouts",
    "http_layouts",
    default="2x16,4x4,4x8,granian:2x8,granian:4x4,granian:8x1",
    show_default=True,
    callback=_server_layouts,
    help="enqueue-http: taskrow api layouts searched: WORKERSxTHREADS (gunicorn gthread) or "
    "granian:WORKERSxTHREADS.",
)
@click.option(
    "--rq-layouts",
    "rq_layouts",
    default="4xsync,8xsync,2x16,4x4",
    show_default=True,
    callback=_server_layouts,
    help="enqueue-http: Flask + RQ layouts searched (Wxsync: gunicorn sync workers, WxT: "
    "gthread, granian:WxT: granian).",
)
@click.option(
    "--finished",
    type=click.IntRange(0),
    default=1_000_000,
    show_default=True,
    help="history: finished tasks seeded.",
)
@click.option(
    "--future",
    type=click.IntRange(0),
    default=100_000,
    show_default=True,
    help="history: future-scheduled tasks seeded.",
)
@click.option(
    "--threads",
    type=click.IntRange(1, 1000),
    default=10,
    show_default=True,
    help="latency, memory: worker threads.",
)
@click.option(
    "--async-commit",
    is_flag=True,
    help="drain, latency, memory: run the workers with --async-commit.",
)
@click.option(
    "--rq/--no-rq",
    default=True,
    show_default=True,
    help="enqueue-http: also serve and load the Flask + RQ endpoint (needs .venv-bench).",
)
def bench(scenario: str, as_json: bool, **options: object) -> None:
    """Measure one SCENARIO and print its figures (a table, or JSON with --json).

    The database server is TASKROW_DATABASE_URL's (each measurement creates and drops its own
    databases there), or an embedded Postgres started for the run. See benchmarks/README.md.
    """
    settings = Settings.from_env()
    if options["async_commit"]:
        os.environ["TASKROW_ASYNC_COMMIT"] = "1"  # read by the worker processes it starts
    try:
        with translate_errors(), server(settings.database_url) as url:
            report = SCENARIOS[scenario](Options(server_url=url, schema=settings.schema, **options))  # type: ignore[arg-type]
    except (BenchError, EmbeddedPostgresError, TaskrowError) as exc:
        raise click.ClickException(str(exc).splitlines()[0] if str(exc) else repr(exc)) from exc
    except subprocess.TimeoutExpired as exc:
        raise click.ClickException(f"timed out: {' '.join(map(str, exc.cmd))[:200]}") from exc
    if options["async_commit"]:
        report.notes.append("workers ran with --async-commit (rounds commit asynchronously)")
    click.echo(report.json() if as_json else report.table())
