"""Alembic environment: target_metadata is queue_core's MetaData.

Run from code (queue_core.migrations hands over a connection and the schema in
``config.attributes``) or from the alembic command line in the source tree (the URL comes from
TASKROW_DATABASE_URL or DATABASE_URL, the schema from TASKROW_SCHEMA).
"""

from __future__ import annotations

import logging.config
import os

import sqlalchemy as sa
from alembic import context

from queue_core.db import engine_url
from queue_core.schema import DEFAULT_SCHEMA, metadata, schema_name

config = context.config
schema = schema_name(
    config.attributes.get("schema") or os.environ.get("TASKROW_SCHEMA", DEFAULT_SCHEMA)
)
if config.config_file_name and "connection" not in config.attributes:
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)

OPTIONS = {
    "target_metadata": metadata,
    "version_table_schema": schema,
    "include_schemas": True,
    "include_name": lambda name, type_, parent: type_ != "schema" or name == schema,
    "transaction_per_migration": False,
}


def create_schema_sql() -> str:
    return f'CREATE SCHEMA IF NOT EXISTS "{schema}"'


def run_offline() -> None:
    context.configure(url="postgresql://", literal_binds=True, **OPTIONS)  # type: ignore[arg-type]
    with context.begin_transaction():
        context.execute(create_schema_sql())
        context.run_migrations()


def run_online(connection: sa.Connection) -> None:
    if schema != DEFAULT_SCHEMA:
        connection = connection.execution_options(schema_translate_map={DEFAULT_SCHEMA: schema})
    connection.execute(sa.text(create_schema_sql()))
    context.configure(connection=connection, **OPTIONS)  # type: ignore[arg-type]
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    if context.is_offline_mode():
        run_offline()
        return
    given = config.attributes.get("connection")
    if given is not None:
        run_online(given)
        return
    url = os.environ.get("TASKROW_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit("set TASKROW_DATABASE_URL (or DATABASE_URL) to run alembic here")
    engine = sa.create_engine(engine_url(url))
    with engine.begin() as connection:
        run_online(connection)
    engine.dispose()


main()
