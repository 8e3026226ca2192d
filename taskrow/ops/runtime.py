"""What every operator command shares: one-line errors, the database, exit codes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import IO, Any

import click
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

import queue_core

from ..config import Settings

#: Exit code of a failed command (click uses 2 for a malformed command line; ``watch`` adds
#: its own codes for how the task ended, see its help).
EXIT_ERROR = 1

NO_DATABASE = "no database configured: set TASKROW_DATABASE_URL (or DATABASE_URL)"
MIGRATE_HINT = " (is the schema migrated? run `taskrow migrate`)"


def one_line(text: str) -> str:
    """``text`` made safe to print on one line: control characters and invalid Unicode (lone
    surrogates from undecodable argv bytes) are shown as escapes."""
    safe = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in safe)


class CommandError(click.ClickException):
    """A command failed: ``Error: <message>`` on stderr, exit ``exit_code`` (a subclass may
    choose another code)."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"Error: {self.format_message()}", err=True)


class OneLineUsageError(click.UsageError):
    """A malformed command line, reported on one line with a pointer to ``--help``."""

    def show(self, file: IO[Any] | None = None) -> None:
        where = f" (see '{self.ctx.command_path} --help')" if self.ctx is not None else ""
        click.echo(f"Error: {one_line(self.format_message())}{where}", err=True)


class OpsCommand(click.Command):
    """A click command whose every error is one line on stderr and a non-zero exit."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            raise OneLineUsageError(exc.format_message(), exc.ctx or ctx) from exc

    def invoke(self, ctx: click.Context) -> Any:
        with reporting():
            return super().invoke(ctx)


@contextlib.contextmanager
def reporting() -> Iterator[None]:
    """Turn queue_core's errors into :class:`CommandError` with a clear message."""
    try:
        yield
    except queue_core.InvalidTaskError as exc:
        raise CommandError(f"invalid {exc}") from exc
    except queue_core.DatabaseUnavailable as exc:
        raise CommandError(f"database unavailable: {exc}") from exc
    except queue_core.DatabaseError as exc:
        hint = MIGRATE_HINT if "does not exist" in str(exc) else ""
        raise CommandError(f"database error: {exc}{hint}") from exc
    except queue_core.TaskrowError as exc:  # not found, invalid transition, idempotency conflict
        raise CommandError(str(exc)) from exc


def settings() -> Settings:
    """The settings of this invocation, read from the environment."""
    return Settings.from_env()


@contextlib.contextmanager
def open_engine(config: Settings) -> Iterator[Engine]:
    """A one-connection engine on the configured database, disposed of afterwards."""
    if config.database_url is None:
        raise CommandError(NO_DATABASE)
    try:
        engine = queue_core.create_engine(
            config.database_url, pool_size=1, max_overflow=0, pooler=config.pooler
        )
    except (ValueError, sa_exc.ArgumentError) as exc:  # the URL itself is never echoed: secrets
        raise CommandError("the database URL is not a valid PostgreSQL URL") from exc
    try:
        yield engine
    finally:
        engine.dispose()


#: A connection for reads only (nothing is committed), its driver errors translated into
#: queue_core's: :func:`queue_core.connection`.
reading = queue_core.connection
