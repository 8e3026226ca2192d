"""The tasks table and its indexes.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TIMESTAMPTZ = postgresql.TIMESTAMP(timezone=True)
FINISHED = "state IN ('succeeded', 'dead', 'cancelled')"


def upgrade() -> None:
    schema = op.get_context().version_table_schema
    op.create_table(
        "tasks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant", sa.Text(), server_default="default", nullable=False),
        sa.Column("queue", sa.Text(), nullable=False),
        sa.Column("task", sa.Text(), nullable=False),
        sa.Column(
            "args", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("priority", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("state", sa.Text(), server_default="queued", nullable=False),
        sa.Column("run_at", TIMESTAMPTZ, server_default=sa.func.now(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("max_attempts", sa.Integer(), server_default="3", nullable=False),
        sa.Column("timeout_seconds", sa.Integer(), nullable=True),
        sa.Column("lease_token", sa.Uuid(), nullable=True),
        sa.Column("worker_id", sa.Text(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("progress_current", sa.BigInteger(), nullable=True),
        sa.Column("progress_total", sa.BigInteger(), nullable=True),
        sa.Column("progress_message", sa.Text(), nullable=True),
        sa.Column("result", postgresql.JSONB(), nullable=True),
        sa.Column("error_type", sa.Text(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("error_traceback", sa.Text(), nullable=True),
        sa.Column("idempotency_key", sa.Text(), nullable=True),
        sa.Column("fingerprint", sa.Text(), nullable=True),
        sa.Column("created_at", TIMESTAMPTZ, server_default=sa.func.now(), nullable=False),
        sa.Column("started_at", TIMESTAMPTZ, nullable=True),
        sa.Column("finished_at", TIMESTAMPTZ, nullable=True),
        sa.CheckConstraint(
            "state IN ('queued', 'running', 'succeeded', 'dead', 'cancelled')",
            name="tasks_state_check",
        ),
        sa.CheckConstraint("attempts >= 0", name="tasks_attempts_check"),
        sa.CheckConstraint("max_attempts >= 1", name="tasks_max_attempts_check"),
        sa.CheckConstraint(
            "(state = 'running') = (lease_token IS NOT NULL)", name="tasks_lease_check"
        ),
        sa.PrimaryKeyConstraint("id", name="tasks_pkey"),
        schema=schema,
    )
    op.create_index(
        "tasks_claim_idx",
        "tasks",
        ["queue", sa.text("priority DESC"), "run_at", "id"],
        schema=schema,
        postgresql_where=sa.text("state = 'queued'"),
    )
    op.create_index(
        "tasks_lease_expiry_idx",
        "tasks",
        ["queue", "run_at"],
        schema=schema,
        postgresql_where=sa.text("state = 'running'"),
    )
    op.create_index(
        "tasks_idempotency_key",
        "tasks",
        ["tenant", "idempotency_key"],
        unique=True,
        schema=schema,
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )
    op.create_index(
        "tasks_finished_idx",
        "tasks",
        ["finished_at"],
        schema=schema,
        postgresql_where=sa.text(FINISHED),
    )
    op.create_index("tasks_listing_idx", "tasks", ["tenant", "created_at", "id"], schema=schema)
    # Every claim and acknowledgement rewrites a row: vacuum the table early and often so dead
    # versions do not pile up in the claim index.
    op.execute(
        f'ALTER TABLE "{schema}".tasks SET (autovacuum_vacuum_scale_factor = 0.01, '
        "autovacuum_vacuum_insert_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.02, "
        "autovacuum_vacuum_cost_delay = 0)"
    )


def downgrade() -> None:
    schema = op.get_context().version_table_schema
    op.drop_table("tasks", schema=schema)
