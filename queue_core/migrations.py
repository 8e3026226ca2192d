"""Schema migrations with Alembic, run from code (``taskrow migrate`` calls these).

The scripts live in the repository's ``alembic/`` folder and ship inside the wheel as
``queue_core/_alembic``. The version table lives in the task schema, so several applications
(or test databases) can each keep their own queue schema.
"""

from __future__ import annotations

import io
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import Connection, Engine

from .db import translate_errors
from .errors import SchemaNotMigrated, TaskrowError
from .schema import DEFAULT_SCHEMA, schema_name

VERSION_TABLE = "alembic_version"


def script_location() -> Path:
    """The migration scripts: shipped in the wheel, or the source tree's ``alembic/``."""
    packaged = Path(__file__).parent / "_alembic"
    if (packaged / "env.py").exists():
        return packaged
    return Path(__file__).resolve().parent.parent / "alembic"


def alembic_config(schema: str = DEFAULT_SCHEMA, connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location()))
    config.attributes["schema"] = schema_name(schema)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(
    bind: Engine | Connection, revision: str = "head", *, schema: str = DEFAULT_SCHEMA
) -> None:
    """Migrate the schema up to ``revision``, in one transaction."""
    with translate_errors(), _connection(bind) as conn:
        command.upgrade(alembic_config(schema, conn), revision)


def downgrade(bind: Engine | Connection, revision: str, *, schema: str = DEFAULT_SCHEMA) -> None:
    with translate_errors(), _connection(bind) as conn:
        command.downgrade(alembic_config(schema, conn), revision)


def upgrade_sql(revision: str = "head", *, schema: str = DEFAULT_SCHEMA) -> str:
    """The SQL an upgrade from an empty database would run (a dry run; nothing is touched)."""
    buffer = io.StringIO()
    config = alembic_config(schema)
    config.output_buffer = buffer
    command.upgrade(config, revision, sql=True)
    return buffer.getvalue()


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(bind: Engine | Connection, *, schema: str = DEFAULT_SCHEMA) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    with translate_errors(), _connection(bind) as conn:
        context = MigrationContext.configure(
            conn, opts={"version_table_schema": schema_name(schema), "version_table": VERSION_TABLE}
        )
        return context.get_current_revision()


class MigrationError(TaskrowError):
    """A target revision that does not exist, or a move that was not asked for (a downgrade)."""


def resolve_revision(revision: str) -> str | None:
    """The id of ``revision`` (an id, a unique prefix of one, ``head`` or ``base``: None)."""
    script = _scripts()
    try:
        found = script.get_revision(revision)
    except CommandError as exc:
        known = ", ".join(reversed([r.revision for r in script.walk_revisions()]))
        raise MigrationError(
            f"unknown revision {revision!r}: the revisions are {known} (or head, base)"
        ) from exc
    return None if found is None else found.revision


def is_downgrade(current: str | None, target: str | None) -> bool:
    """Whether moving from ``current`` to ``target`` (ids, None for base) goes back in history."""
    order = [None, *reversed([r.revision for r in _scripts().walk_revisions()])]
    if current not in order:
        raise MigrationError(
            f"the database is at revision {current!r}, which this version of taskrow does not "
            "know (it was migrated by a newer one): upgrade taskrow"
        )
    return order.index(target) < order.index(current)


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


class _connection:
    """A connection from an engine (committed at exit), or the caller's own (left to them)."""

    def __init__(self, bind: Engine | Connection) -> None:
        self._bind = bind
        self._owned: Connection | None = None

    def __enter__(self) -> Connection:
        if isinstance(self._bind, Connection):
            return self._bind
        self._owned = self._bind.connect()
        return self._owned

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if self._owned is None:
            return
        if exc_type is None:
            self._owned.commit()
        self._owned.close()


def require_current(bind: Engine | Connection, *, schema: str = DEFAULT_SCHEMA) -> str:
    """The database's revision; raises SchemaNotMigrated when it was never migrated or is at
    an older revision than this code's head. A revision this code does not know (a newer
    release migrated the database, e.g. during a rolling upgrade) is accepted."""
    current = current_revision(bind, schema=schema)
    head = head_revision()
    if current is None:
        raise SchemaNotMigrated(f"never migrated; this code needs revision {head}", schema)
    if current != head and _known(current):
        raise SchemaNotMigrated(f"at revision {current}, this code needs {head}", schema)
    return current


def _known(revision: str) -> bool:
    scripts = ScriptDirectory.from_config(alembic_config())
    return any(script.revision == revision for script in scripts.walk_revisions())
