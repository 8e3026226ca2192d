"""The ``taskrow`` command: one group, each subcommand a thin shell over the packages."""

from __future__ import annotations

import sys

import click

import queue_core
from queue_core import migrations

from . import cli_api, cli_ops, cli_worker
from .config import Settings
from .dev import dev


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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
    engine = queue_core.create_engine(obj.database_url(), pool_size=1)
    try:
        migrations.upgrade(engine, revision, schema=schema)
        click.echo(
            f"schema {schema} is at revision {migrations.current_revision(engine, schema=schema)}"
        )
    except queue_core.TaskrowError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        engine.dispose()


main.add_command(dev)
for command in (*cli_api.commands, *cli_ops.commands, *cli_worker.commands):
    main.add_command(command)


if __name__ == "__main__":
    sys.exit(main())
