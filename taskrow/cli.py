"""The ``taskrow`` command: one group, each subcommand a thin shell over the packages."""

from __future__ import annotations

import importlib
import sys

import click
from sqlalchemy.engine import Engine

import queue_core
from queue_core import migrations

from .config import Settings

# Each subcommand's module is imported only when that subcommand runs (or --help lists it):
# start-up stays quick, and `taskrow api` can prepare the metrics folder before
# prometheus_client is first imported. Each module lists its click commands in `commands`.
COMMAND_MODULES = {
    "api": "taskrow.cli_api",
    "keys": "taskrow.cli_api",
    "limits": "taskrow.cli_api",
    "worker": "taskrow.cli_worker",
    "dev": "taskrow.dev",
    **dict.fromkeys(
        ("enqueue", "status", "watch", "ls", "stats", "cancel", "retry", "prune", "bench"),
        "taskrow.cli_ops",
    ),
}


class LazyGroup(click.Group):
    """A group whose subcommands live in modules imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMAND_MODULES})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None or cmd_name not in COMMAND_MODULES:
            return command
        module = importlib.import_module(COMMAND_MODULES[cmd_name])
        found = {c.name: c for c in module.commands}
        return found.get(cmd_name)


class Context:
    """What every subcommand gets: settings read once from the environment."""

    def __init__(self) -> None:
        try:
            self.settings = Settings.from_env()
        except queue_core.InvalidTaskError as exc:
            raise click.UsageError(f"TASKROW_{exc.field.upper()}: {exc.reason}") from exc

    def database_url(self) -> str:
        if self.settings.database_url is None:
            raise click.UsageError(
                "no database: set TASKROW_DATABASE_URL (or DATABASE_URL), or use `taskrow dev`"
            )
        return self.settings.database_url


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def main(ctx: click.Context) -> None:
    """taskrow: a task queue on the PostgreSQL you already run."""
    ctx.obj = Context()


@main.command()
@click.option("--sql", "dry_run", is_flag=True, help="Print the SQL instead of running it.")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@click.option(
    "--downgrade",
    is_flag=True,
    help="Allow moving to an older revision (drops what the newer ones added, data included).",
)
@click.pass_obj
def migrate(obj: Context, dry_run: bool, revision: str, downgrade: bool) -> None:
    """Create or upgrade the task tables in the configured database and schema.

    A --revision older than the database's is a downgrade: refused unless --downgrade is given.
    """
    schema = obj.settings.schema
    try:
        target = migrations.resolve_revision(revision)
    except migrations.MigrationError as exc:
        raise click.ClickException(str(exc)) from exc
    if dry_run:
        if downgrade:
            raise click.UsageError("--sql prints an upgrade from an empty database only")
        click.echo(migrations.upgrade_sql(target or "base", schema=schema))
        return
    url = obj.database_url()
    engine = queue_core.create_engine(url, pool_size=1, pooler=obj.settings.pooler)
    try:
        queue_core.check_pooler(url, obj.settings.pooler)
        _move(engine, schema, target, downgrade)
    except queue_core.TaskrowError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        engine.dispose()


def _move(engine: Engine, schema: str, target: str | None, downgrade: bool) -> None:
    current = migrations.current_revision(engine, schema=schema)
    older = migrations.is_downgrade(current, target)
    name = target or "base"
    if older and not downgrade:
        raise click.ClickException(
            f"schema {schema} is at revision {current}; {name} is older, so this is a "
            "downgrade: it drops what the newer revisions added, data included. Nothing was "
            f"changed. To do it: taskrow migrate --revision {name} --downgrade"
        )
    if downgrade and not older:
        raise click.ClickException(
            f"--downgrade: schema {schema} is at revision {current or 'base'}, and {name} is "
            "not older; nothing was changed"
        )
    if older:
        migrations.downgrade(engine, name, schema=schema)
    elif current != target:
        migrations.upgrade(engine, name, schema=schema)
    now = migrations.current_revision(engine, schema=schema)
    note = " (it already was)" if now == current else f" (was {current or 'base'})"
    click.echo(f"schema {schema} is at revision {now or 'base'}{note}")


if __name__ == "__main__":
    sys.exit(main())
