"""The api_keys migration: matches the MetaData exactly (no drift), and round-trips."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import queue_core
from queue_core import migrations


def drift(engine: sa.Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "include_schemas": True,
                "version_table_schema": queue_core.DEFAULT_SCHEMA,
                "include_name": lambda name, type_, parent: (
                    type_ != "schema" or name == queue_core.DEFAULT_SCHEMA
                ),
            },
        )
        return list(compare_metadata(context, queue_core.metadata))


def tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names(schema=queue_core.DEFAULT_SCHEMA))


def test_head_matches_the_metadata_and_0002_round_trips(empty_db_url: str) -> None:
    engine = queue_core.create_engine(empty_db_url, pool_size=1)
    try:
        migrations.upgrade(engine)
        assert migrations.current_revision(engine) == migrations.head_revision()
        assert drift(engine) == []
        assert "api_keys" in tables(engine)
        migrations.downgrade(engine, "0001")
        assert "api_keys" not in tables(engine) and "tasks" in tables(engine)
        assert drift(engine)  # the comparison does see a missing table
        migrations.upgrade(engine)
        assert drift(engine) == []
    finally:
        engine.dispose()
