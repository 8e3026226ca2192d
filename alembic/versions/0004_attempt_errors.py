"""Each task's recent errors (one per failed attempt), and the workers' announcements.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TIMESTAMPTZ = postgresql.TIMESTAMP(timezone=True)

#: Errors kept per task (the latest), and the longest message and traceback excerpt of each.
ERROR_HISTORY = 10
MESSAGE_CHARS = 1000
TRACEBACK_CHARS = 2000

# Appends one entry to tasks.errors each time an attempt ends without succeeding: a failure
# recorded by a worker (the row leaves 'running' with an error), or a lease that expired
# (the claim that rescues the row, or ends it dead, gives it a new token or state). Only
# statements that write the error columns can fire it (a failure, a claim); a success, a
# heartbeat, progress or a release never do, and a claim of a queued row stops at the WHEN.
_FUNCTION = """
CREATE FUNCTION {s}.tasks_record_error() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    entry jsonb;
    at text := to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
BEGIN
    -- A claim that takes over an expired lease gives the row a new token (running again).
    -- A claim that ends an expired lease (dead, cancelled) or a release at shutdown clears its
    -- worker: an entry only when it wrote an error (LeaseExpired, WorkerStopped), not for a
    -- release that refunded the attempt or a cancel. A recorded failure keeps the worker.
    IF NEW.state <> 'running' AND NEW.worker_id IS NULL AND OLD.worker_id IS NOT NULL
       AND NEW.error_type IS NOT DISTINCT FROM OLD.error_type
       AND NEW.error_message IS NOT DISTINCT FROM OLD.error_message THEN
        RETURN NEW;
    ELSIF NEW.state = 'running' OR (NEW.worker_id IS NULL AND NEW.error_type = 'LeaseExpired') THEN
        entry := jsonb_build_object(
            'attempt', OLD.attempts, 'type', 'LeaseExpired',
            'message', 'the lease expired before the attempt ended (the worker stopped, '
                       'was killed or hung, or a thread-pool attempt ran past its timeout)',
            'traceback', NULL, 'at', at);
    ELSE
        entry := jsonb_build_object(
            'attempt', OLD.attempts, 'type', NEW.error_type,
            'message', left(NEW.error_message, {message_chars}),
            'traceback', right(NEW.error_traceback, {traceback_chars}),
            'at', at);
    END IF;
    NEW.errors := coalesce(OLD.errors, '[]'::jsonb) || jsonb_build_array(entry);
    WHILE jsonb_array_length(NEW.errors) > {history} LOOP
        NEW.errors := NEW.errors - 0;
    END LOOP;
    RETURN NEW;
END
$$
"""

_TRIGGER = """
CREATE TRIGGER tasks_record_error
BEFORE UPDATE OF error_type, error_message ON {s}.tasks
FOR EACH ROW
WHEN (OLD.state = 'running' AND (
    (NEW.state = 'running' AND NEW.lease_token IS DISTINCT FROM OLD.lease_token)
    OR (NEW.state <> 'running' AND (NEW.error_type IS NOT NULL OR NEW.worker_id IS NULL))))
EXECUTE FUNCTION {s}.tasks_record_error()
"""


def upgrade() -> None:
    schema = op.get_context().version_table_schema
    # Nullable without a default: adding it rewrites no row.
    op.add_column("tasks", sa.Column("errors", postgresql.JSONB(), nullable=True), schema=schema)
    op.create_table(
        "workers",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("queues", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("tasks", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("started_at", TIMESTAMPTZ, server_default=sa.func.now(), nullable=False),
        sa.Column("seen_at", TIMESTAMPTZ, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="workers_pkey"),
        schema=schema,
    )
    s = f'"{schema}"'
    op.execute(
        _FUNCTION.format(
            s=s,
            history=ERROR_HISTORY,
            message_chars=MESSAGE_CHARS,
            traceback_chars=TRACEBACK_CHARS,
        )
    )
    op.execute(_TRIGGER.format(s=s))


def downgrade() -> None:
    schema = op.get_context().version_table_schema
    s = f'"{schema}"'
    op.execute(f"DROP TRIGGER tasks_record_error ON {s}.tasks")
    op.execute(f"DROP FUNCTION {s}.tasks_record_error()")
    op.drop_table("workers", schema=schema)
    op.drop_column("tasks", "errors", schema=schema)
