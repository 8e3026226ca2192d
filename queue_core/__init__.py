"""taskrow's queue core: the only package that speaks SQL.

Functions take the caller's SQLAlchemy ``Connection`` (or ORM ``Session``) and never commit:
the caller owns the transaction, so a task can be enqueued atomically with the caller's own
writes. See :mod:`queue_core.errors` for the error tree.
"""

from .admin import (
    cancel,
    database_now,
    get,
    list_tasks,
    prune,
    prune_all,
    retry,
    retry_queue,
    stats,
)
from .db import Executor, create_engine, engine_url, translate_errors
from .enqueue import DEFAULT_QUEUE, DEFAULT_TENANT, NewTask, enqueue, enqueue_many, enqueue_many_ids
from .errors import (
    DatabaseError,
    DatabaseUnavailable,
    IdempotencyConflict,
    InvalidTaskError,
    InvalidTransition,
    KeyRevoked,
    LeaseLost,
    TaskNotFound,
    TaskrowError,
)
from .keys import ApiKey, CreatedKey, authenticate, create_key, list_keys, revoke_key
from .leases import (
    DEFAULT_LEASE_SECONDS,
    claim,
    complete,
    complete_many,
    fail,
    fail_many,
    heartbeat,
    progress,
    record_and_claim,
    release,
)
from .limits import queue_depth
from .models import (
    FINISHED_STATES,
    Claimed,
    Failure,
    Heartbeat,
    Lease,
    LeaseToken,
    QueueStats,
    Round,
    Task,
    TaskId,
    TaskState,
)
from .notify import Listener
from .schema import DEFAULT_SCHEMA, metadata, notify_channel, schema_name

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "DEFAULT_QUEUE",
    "DEFAULT_SCHEMA",
    "DEFAULT_TENANT",
    "FINISHED_STATES",
    "ApiKey",
    "Claimed",
    "CreatedKey",
    "DatabaseError",
    "DatabaseUnavailable",
    "Executor",
    "Failure",
    "Heartbeat",
    "IdempotencyConflict",
    "InvalidTaskError",
    "InvalidTransition",
    "KeyRevoked",
    "Lease",
    "LeaseLost",
    "LeaseToken",
    "Listener",
    "NewTask",
    "QueueStats",
    "Round",
    "Task",
    "TaskId",
    "TaskNotFound",
    "TaskState",
    "TaskrowError",
    "authenticate",
    "cancel",
    "claim",
    "complete",
    "complete_many",
    "create_engine",
    "create_key",
    "database_now",
    "engine_url",
    "enqueue",
    "enqueue_many",
    "enqueue_many_ids",
    "fail",
    "fail_many",
    "get",
    "heartbeat",
    "list_keys",
    "list_tasks",
    "metadata",
    "notify_channel",
    "progress",
    "prune",
    "prune_all",
    "queue_depth",
    "record_and_claim",
    "release",
    "retry",
    "retry_queue",
    "revoke_key",
    "schema_name",
    "stats",
    "translate_errors",
]
