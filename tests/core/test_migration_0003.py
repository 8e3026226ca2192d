"""Migration 0003 round-trips, with an operator key and a tenant limit present."""

from __future__ import annotations

import sqlalchemy as sa

import queue_core
from queue_core import migrations


def test_0003_round_trips_with_operator_keys_and_limits(empty_db_url: str) -> None:
    engine = queue_core.create_engine(empty_db_url, pool_size=1)
    try:
        migrations.upgrade(engine)
        with engine.begin() as conn:
            queue_core.create_key(conn, tenant="acme")
            queue_core.create_operator_key(conn)
            queue_core.set_tenant_limit(conn, "acme", queue_depth_limit=5)
            queue_core.enqueue(conn, "t")
        refused = (  # the database itself keeps the two kinds apart
            "UPDATE taskrow.api_keys SET scopes = ARRAY['admin', 'read'] WHERE tenant = 'acme'",
            "UPDATE taskrow.api_keys SET scopes = ARRAY['admin', 'read'] WHERE tenant IS NULL",
            "UPDATE taskrow.api_keys SET queues = ARRAY['q'] WHERE tenant IS NULL",
            "UPDATE taskrow.api_keys SET tenant = NULL WHERE tenant = 'acme'",
        )
        for statement in refused:
            with engine.begin() as conn:
                try:
                    with conn.begin_nested():
                        conn.execute(sa.text(statement))
                except sa.exc.IntegrityError:
                    continue
            raise AssertionError(f"accepted: {statement}")
        migrations.downgrade(engine, "0002")
        with engine.connect() as conn:
            tenants = conn.execute(sa.text("SELECT tenant FROM taskrow.api_keys")).scalars().all()
            columns = {c["name"] for c in sa.inspect(conn).get_columns("tasks", schema="taskrow")}
        assert tenants == ["acme"]  # the operator key went with its kind
        assert "traceparent" not in columns
        migrations.upgrade(engine)
        assert migrations.current_revision(engine) == migrations.head_revision()
    finally:
        engine.dispose()
