"""Configuration read once, at the entry point, from TASKROW_* environment variables."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path

import click

from queue_core import DEFAULT_SCHEMA, Pooler, engine_url, pooler_mode, schema_name


@dataclasses.dataclass(frozen=True)
class Settings:
    """Where the queue lives. ``database_url`` None means: start the embedded Postgres.
    ``pooler`` (``TASKROW_POOLER``) says what stands in between (see queue_core.pooler)."""

    database_url: str | None
    schema: str = DEFAULT_SCHEMA
    data_dir: Path = Path(".taskrow")
    pooler: Pooler = "none"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """Raises InvalidTaskError (field ``database_url``) for a malformed database URL."""
        url = environ.get("TASKROW_DATABASE_URL") or environ.get("DATABASE_URL") or None
        if url is not None:
            engine_url(url)  # checked here, so every command refuses it before connecting
        return cls(
            database_url=url,
            schema=schema_name(environ.get("TASKROW_SCHEMA", DEFAULT_SCHEMA)),
            data_dir=Path(environ.get("TASKROW_DATA_DIR", ".taskrow")),
            pooler=pooler_mode(environ.get("TASKROW_POOLER")),
        )


def lines_a_second(value: str) -> int | None:
    """``--success-lines``, ``--enqueued-lines``: a count of lines a second, or ``all`` (None:
    no limit)."""
    if value.strip().lower() == "all":
        return None
    try:
        count = int(value)
    except ValueError:
        count = -1
    if count < 0:
        raise click.BadParameter(f"{value!r}: give a number of lines a second (0 or more) or 'all'")
    return count
