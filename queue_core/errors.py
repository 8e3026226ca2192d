"""Every error queue_core raises, as one tree.

::

    TaskrowError                  root: catch this to catch everything below
    ├── InvalidTaskError          bad input (a name, args, a datetime, a number): nothing written
    ├── IdempotencyConflict       an idempotency key reused with different content
    ├── TaskNotFound              no task with that id (for that tenant)
    ├── InvalidTransition         the task's state does not allow the operation
    ├── LeaseLost                 a fenced operation found the lease gone (expired and re-claimed,
    │                             cancelled, or finished); nothing was written
    ├── KeyRevoked                an enqueue made under an API key that is no longer live;
    │                             nothing was written
    ├── QueueFull                 a tenant's queue holds its depth limit; nothing was written
    └── DatabaseError             the database refused or failed a statement
        ├── DatabaseUnavailable   database unreachable, or a commit's outcome unknown
        ├── SchemaNotMigrated     the tables are missing or behind the code: run `taskrow
                                  migrate` (retrying does not help)
        └── PoolerMismatch        a transaction pooler in front of the database, not declared

Driver errors never escape: they are translated at the boundary with ``raise ... from exc``,
so the original stays available as ``__cause__``.
"""

from __future__ import annotations


class TaskrowError(Exception):
    """Root of every error raised by queue_core."""


class InvalidTaskError(TaskrowError, ValueError):
    """An argument is invalid; the message names it. Nothing was written."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


class IdempotencyConflict(TaskrowError):
    """The idempotency key is already used by a task with different content."""

    def __init__(self, key: str, task_id: str) -> None:
        super().__init__(
            f"idempotency key {key!r} is already used by task {task_id} with different content"
        )
        self.key = key
        self.task_id = task_id


class TaskNotFound(TaskrowError, LookupError):
    """No task with that id is visible to the caller."""

    def __init__(self, task_id: object) -> None:
        super().__init__(f"task {task_id} not found")
        self.task_id = task_id


class InvalidTransition(TaskrowError):
    """The task exists but its state does not allow the operation (e.g. cancel a finished task)."""

    def __init__(self, task_id: object, state: str, operation: str) -> None:
        super().__init__(f"cannot {operation} task {task_id}: it is {state}")
        self.task_id = task_id
        self.state = state
        self.operation = operation


class LeaseLost(TaskrowError):
    """The lease token no longer matches: another attempt owns the task, or it is finished."""

    def __init__(self, task_id: object) -> None:
        super().__init__(f"lease on task {task_id} was lost; the operation was not applied")
        self.task_id = task_id


class KeyRevoked(TaskrowError):
    """The API key an enqueue was made under was revoked (or deleted); nothing was written."""

    def __init__(self, key_id: str) -> None:
        super().__init__(f"API key {key_id} is revoked")
        self.key_id = key_id


class QueueFull(TaskrowError):
    """Enqueueing would take the tenant's queued tasks in ``queue`` past ``limit``."""

    def __init__(self, queue: str, limit: int) -> None:
        super().__init__(f"queue {queue!r} holds its limit of {limit} waiting tasks")
        self.queue = queue
        self.limit = limit


class DatabaseError(TaskrowError):
    """The database failed a statement."""


class DatabaseUnavailable(DatabaseError):
    """The database is unreachable, or a commit's outcome is unknown: retry later."""


class SchemaNotMigrated(DatabaseError):
    """The queue's tables are missing or older than this code expects: ``taskrow migrate``."""

    def __init__(self, detail: str, schema: str | None = None) -> None:
        where = "" if schema is None else f" in the schema {schema!r}"
        super().__init__(
            f"the taskrow tables{where} are missing or behind this code ({detail}): "
            "run `taskrow migrate`"
        )
        self.schema = schema
        self.detail = detail


class PoolerMismatch(DatabaseError):
    """The connection leads through a transaction pooler (e.g. PgBouncer's transaction pooling)
    that the configuration did not declare, so prepared statements break at random. The
    message names the fix (``TASKROW_POOLER=transaction``)."""
