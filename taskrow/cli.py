"""The ``taskrow`` command: one group, each subcommand a thin shell over the packages."""

from __future__ import annotations

import importlib
import sys

import click

import queue_core
from queue_core import migrations

from .config import Settings

# Each subcommand's module is imported only when that subcommand runs (or --help lists it):
# start-up stays quick, and `taskrow api` can prepare the metrics folder before
# prometheus_client is first imported. Each module lists its click commands in `commands`.
COMMAND_MODULES = {
    "api": "taskrow.cli_api",
    "keys": "taskrow.cli_api",
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
@click.pass_obj
def migrate(obj: Context, dry_run: bool, revision: str) -> None:
    """Create or upgrade the task tables in the configured database and schema."""
    schema = obj.settings.schema
    if dry_run:
        click.echo(migrations.upgrade_sql(revision, schema=schema))
        return
    url = obj.database_url()
    engine = queue_core.create_engine(url, pool_size=1, pooler=obj.settings.pooler)
    try:
        queue_core.check_pooler(url, obj.settings.pooler)
        migrations.upgrade(engine, revision, schema=schema)
        click.echo(
            f"schema {schema} is at revision {migrations.current_revision(engine, schema=schema)}"
        )
    except queue_core.TaskrowError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
