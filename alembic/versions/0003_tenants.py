"""Operator keys (no tenant, the admin scope), per-tenant limits, the tenant depth index, and
the trace context of each task (OpenTelemetry, opt-in).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TIMESTAMPTZ = postgresql.TIMESTAMP(timezone=True)
# The name 0002 gave it (the naming convention applied to its full name).
OLD_SCOPES_NAME = "api_keys_api_keys_scopes_check_check"
OLD_SCOPES = "scopes <@ ARRAY['enqueue', 'read', 'manage']::text[]"
NEW_SCOPES = "scopes <@ ARRAY['enqueue', 'read', 'manage', 'admin']::text[]"
OPERATOR = (
    "(tenant IS NULL) = ('admin' = ANY(scopes))"
    " AND (tenant IS NOT NULL OR (scopes = ARRAY['admin']::text[] AND queues IS NULL))"
)


def upgrade() -> None:
    schema = op.get_context().version_table_schema
    op.alter_column("api_keys", "tenant", nullable=True, schema=schema)
    op.drop_constraint(op.f(OLD_SCOPES_NAME), "api_keys", schema=schema)
    op.create_check_constraint(op.f("api_keys_scopes_check"), "api_keys", NEW_SCOPES, schema=schema)
    op.create_check_constraint(op.f("api_keys_operator_check"), "api_keys", OPERATOR, schema=schema)
    op.create_table(
        "tenant_limits",
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("queue_depth_limit", sa.Integer(), nullable=True),
        sa.Column("updated_at", TIMESTAMPTZ, server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(
            "queue_depth_limit >= 0", name=op.f("tenant_limits_queue_depth_limit_check")
        ),
        sa.PrimaryKeyConstraint("tenant", name="tenant_limits_pkey"),
        schema=schema,
    )
    op.add_column("tasks", sa.Column("traceparent", sa.Text(), nullable=True), schema=schema)
    op.create_index(
        "tasks_tenant_depth_idx",
        "tasks",
        ["tenant", "queue"],
        schema=schema,
        postgresql_where=sa.text("state = 'queued'"),
    )


def downgrade() -> None:
    schema = op.get_context().version_table_schema
    op.drop_index("tasks_tenant_depth_idx", table_name="tasks", schema=schema)
    op.drop_column("tasks", "traceparent", schema=schema)
    op.drop_table("tenant_limits", schema=schema)
    op.execute(f'DELETE FROM "{schema}".api_keys WHERE tenant IS NULL')
    op.drop_constraint(op.f("api_keys_operator_check"), "api_keys", schema=schema)
    op.drop_constraint(op.f("api_keys_scopes_check"), "api_keys", schema=schema)
    op.create_check_constraint(op.f(OLD_SCOPES_NAME), "api_keys", OLD_SCOPES, schema=schema)
    op.alter_column("api_keys", "tenant", nullable=False, schema=schema)
