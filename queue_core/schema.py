"""The tables, as one SQLAlchemy MetaData (Alembic's ``target_metadata``).

Tables are declared in the schema ``taskrow``; another schema is used by translating that name
(``schema_translate_map``) and by the SQL statements, which are built per schema.
"""

from __future__ import annotations

import re

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    Table,
    Text,
    Uuid,
    false,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TIMESTAMP

from .errors import InvalidTaskError
from .models import ADMIN_SCOPE, FINISHED_STATES_IN_ORDER, SCOPES, TaskState
from .validation import DEFAULT_MAX_ATTEMPTS

DEFAULT_SCHEMA = "taskrow"
_SCHEMA_PATTERN = re.compile(r"[a-z_][a-z0-9_]{0,62}")

metadata = MetaData(
    schema=DEFAULT_SCHEMA,
    naming_convention={
        "ix": "%(table_name)s_%(column_0_N_name)s_idx",
        "uq": "%(table_name)s_%(column_0_N_name)s_key",
        "ck": "%(table_name)s_%(constraint_name)s_check",
        "pk": "%(table_name)s_pkey",
    },
)


def _quoted(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{value}'" for value in values)


FINISHED_STATES_SQL = f"state IN ({_quoted(FINISHED_STATES_IN_ORDER)})"

# An operator key holds the admin scope alone, no tenant and no queue list; no other key does.
OPERATOR_KEY_SQL = (
    "(tenant IS NULL) = ('admin' = ANY(scopes))"
    " AND (tenant IS NOT NULL OR (scopes = ARRAY['admin']::text[] AND queues IS NULL))"
)

tasks = Table(
    "tasks",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("tenant", Text, nullable=False, server_default="default"),
    Column("queue", Text, nullable=False),
    Column("task", Text, nullable=False),
    Column("args", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("priority", SmallInteger, nullable=False, server_default="0"),
    Column("state", Text, nullable=False, server_default="queued"),
    # Earliest time to run; while running, the lease expiry (when it becomes claimable again).
    Column("run_at", TIMESTAMP(timezone=True), nullable=False, server_default=func.now()),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("max_attempts", Integer, nullable=False, server_default=str(DEFAULT_MAX_ATTEMPTS)),
    Column("timeout_seconds", Integer),
    Column("lease_token", Uuid),
    Column("worker_id", Text),
    Column("cancel_requested", Boolean, nullable=False, server_default=false()),
    Column("progress_current", BigInteger),
    Column("progress_total", BigInteger),
    Column("progress_message", Text),
    Column("result", JSONB),
    Column("error_type", Text),
    Column("error_message", Text),
    Column("error_traceback", Text),
    # The errors of the latest failed attempts, oldest first (bounded: queue_core.ERROR_HISTORY),
    # each {"attempt", "type", "message", "at"}; NULL until an attempt fails.
    Column("errors", JSONB),
    Column("idempotency_key", Text),
    Column("fingerprint", Text),
    # W3C traceparent of the enqueue's span (OpenTelemetry, opt-in); NULL without it.
    Column("traceparent", Text),
    Column("created_at", TIMESTAMP(timezone=True), nullable=False, server_default=func.now()),
    Column("started_at", TIMESTAMP(timezone=True)),
    Column("finished_at", TIMESTAMP(timezone=True)),
    CheckConstraint(f"state IN ({_quoted(tuple(TaskState))})", name="state"),
    CheckConstraint("attempts >= 0", name="attempts"),
    CheckConstraint("max_attempts >= 1", name="max_attempts"),
    # A running task always holds a lease token; nothing else does.
    CheckConstraint("(state = 'running') = (lease_token IS NOT NULL)", name="lease"),
)

# The claim reads two small partial indexes, each in the order it wants: queued tasks by
# priority then due time, and running tasks by lease expiry (to rescue a dead worker's tasks
# first). Finished rows leave both, so history never slows a claim.
Index(
    "tasks_claim_idx",
    tasks.c.queue,
    tasks.c.priority.desc(),
    tasks.c.run_at,
    tasks.c.id,
    postgresql_where=text("state = 'queued'"),
)
Index(
    "tasks_lease_expiry_idx",
    tasks.c.queue,
    tasks.c.run_at,
    postgresql_where=text("state = 'running'"),
)
Index(
    "tasks_idempotency_key",
    tasks.c.tenant,
    tasks.c.idempotency_key,
    unique=True,
    postgresql_where=text("idempotency_key IS NOT NULL"),
)
# Retention deletes the oldest finished rows first.
Index("tasks_finished_idx", tasks.c.finished_at, postgresql_where=text(FINISHED_STATES_SQL))
# A tenant's queued tasks per queue: the per-tenant depth limit counts them (queue_core.limits).
Index(
    "tasks_tenant_depth_idx",
    tasks.c.tenant,
    tasks.c.queue,
    postgresql_where=text("state = 'queued'"),
)
# Listing a tenant's tasks newest first, with keyset pagination on (created_at, id).
Index("tasks_listing_idx", tasks.c.tenant, tasks.c.created_at, tasks.c.id)


def schema_name(value: str) -> str:
    """Validate a Postgres schema name (it is formatted into SQL, so it must be plain)."""
    if not _SCHEMA_PATTERN.fullmatch(value):
        raise InvalidTaskError("schema", f"{value!r} is not a plain lower-case identifier")
    return value


def notify_channel(schema: str) -> str:
    """The LISTEN/NOTIFY channel on which enqueues announce their queue."""
    return f"{schema_name(schema)}_enqueued"


# API keys of the HTTP API: only a hash of each secret is stored (see queue_core.keys).
api_keys = Table(
    "api_keys",
    metadata,
    # The public part of the key (shown by `taskrow keys list`, used to revoke it).
    Column("id", Text, primary_key=True),
    # NULL: an operator key (scope ``admin`` alone), which belongs to no tenant.
    Column("tenant", Text),
    Column("name", Text),
    Column("secret_hash", Text, nullable=False),
    Column("scopes", ARRAY(Text), nullable=False),
    # NULL: every queue of the tenant.
    Column("queues", ARRAY(Text)),
    Column("created_at", TIMESTAMP(timezone=True), nullable=False, server_default=func.now()),
    Column("revoked_at", TIMESTAMP(timezone=True)),
    CheckConstraint(f"scopes <@ ARRAY[{_quoted((*SCOPES, ADMIN_SCOPE))}]::text[]", name="scopes"),
    CheckConstraint(OPERATOR_KEY_SQL, name="operator"),
)

# Per-tenant limits set by an operator (`taskrow limits set`); a tenant without a row has the
# API's defaults. ``queue_depth_limit`` NULL: no depth limit for this tenant.
tenant_limits = Table(
    "tenant_limits",
    metadata,
    Column("tenant", Text, primary_key=True),
    Column("queue_depth_limit", Integer),
    Column("updated_at", TIMESTAMP(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("queue_depth_limit >= 0", name="queue_depth_limit"),
)


# What each running worker announces: the queues it consumes and the tasks it has handlers for.
# Refreshed while it runs (``seen_at``), deleted when it stops; read to flag a queue that
# holds tasks no live worker consumes.
workers = Table(
    "workers",
    metadata,
    Column("id", Text, primary_key=True),
    Column("queues", ARRAY(Text), nullable=False),
    Column("tasks", ARRAY(Text), nullable=False),
    Column("started_at", TIMESTAMP(timezone=True), nullable=False, server_default=func.now()),
    Column("seen_at", TIMESTAMP(timezone=True), nullable=False, server_default=func.now()),
)
