"""Value types shared by every part of taskrow: ids, states and the task record."""

from __future__ import annotations

import dataclasses
import enum
import uuid
from datetime import datetime
from typing import Any, NamedTuple, NewType

TaskId = NewType("TaskId", uuid.UUID)
LeaseToken = NewType("LeaseToken", uuid.UUID)

#: JSON as Python holds it after ``json.loads``.
JSON = Any


class TaskState(enum.StrEnum):
    """The five states, spelled the same in SQL, Python, JSON and the CLI."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    DEAD = "dead"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in FINISHED_STATES


FINISHED_STATES = frozenset({TaskState.SUCCEEDED, TaskState.DEAD, TaskState.CANCELLED})
#: The finished states in their declared order (succeeded, dead, cancelled), for display.
FINISHED_STATES_IN_ORDER = tuple(state for state in TaskState if state in FINISHED_STATES)

#: The scopes a tenant's API key may hold.
SCOPES = ("enqueue", "read", "manage")
#: The operator's scope: held alone, by a key of no tenant (cross-tenant surfaces: /metrics).
ADMIN_SCOPE = "admin"


@dataclasses.dataclass(frozen=True, slots=True)
class Task:
    """One row of the tasks table; field names are the column names.

    While a task is ``running``, ``run_at`` is its lease expiry: the moment it becomes claimable
    again unless a heartbeat extends it. Otherwise it is the earliest time it may run.
    """

    id: TaskId
    tenant: str
    queue: str
    task: str
    args: dict[str, JSON]
    priority: int
    state: TaskState
    run_at: datetime
    attempts: int
    max_attempts: int
    timeout_seconds: int | None
    lease_token: LeaseToken | None
    worker_id: str | None
    cancel_requested: bool
    progress_current: int | None
    progress_total: int | None
    progress_message: str | None
    result: JSON
    error_type: str | None
    error_message: str | None
    error_traceback: str | None
    idempotency_key: str | None
    fingerprint: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    #: The errors of the latest failed attempts, oldest first (at most ``ERROR_HISTORY``): each
    #: ``{"attempt", "type", "message", "traceback", "at"}``, ``at`` an RFC 3339 string.
    errors: tuple[dict[str, JSON], ...] = ()

    @classmethod
    def from_row(cls, row: Any) -> Task:
        """Build from a result row (SQLAlchemy's or a named tuple) holding every column (extra
        columns are ignored)."""
        fields = {name: getattr(row, name) for name in _ROW_FIELDS}
        fields["errors"] = tuple(getattr(row, "errors", None) or ())
        fields["state"] = TaskState(fields["state"])
        return cls(**fields)

    @property
    def lease(self) -> Lease:
        """The lease of a claimed task; raises ValueError when the task holds none."""
        if self.lease_token is None:
            raise ValueError(f"task {self.id} holds no lease")
        return Lease(self.id, self.lease_token)


_TASK_FIELDS = tuple(field.name for field in dataclasses.fields(Task))
_ROW_FIELDS = tuple(name for name in _TASK_FIELDS if name != "errors")
#: Errors kept per task (the latest), the longest message and traceback excerpt of each
#: (the trigger of migration 0004 keeps them).
ERROR_HISTORY = 10
ERROR_MESSAGE_CHARS = 1000
ERROR_TRACEBACK_CHARS = 2000


class Lease(NamedTuple):
    """What a worker must present to heartbeat, progress, complete, fail or release a task."""

    task_id: TaskId
    token: LeaseToken


class Claimed(NamedTuple):
    """A task as a worker's round claimed it: what running it takes (its state is ``running``).

    Slimmer than :class:`Task` on purpose: a worker builds thousands of these a second.
    ``lease_expires_at`` is the row's ``run_at``.
    """

    id: TaskId
    lease_token: LeaseToken
    tenant: str
    queue: str
    task: str
    args: dict[str, JSON]
    attempts: int
    max_attempts: int
    timeout_seconds: int | None
    lease_expires_at: datetime
    #: W3C trace context of the enqueue (OpenTelemetry, opt-in), for the worker to continue.
    traceparent: str | None = None

    @property
    def lease(self) -> Lease:
        return Lease(self.id, self.lease_token)


@dataclasses.dataclass(frozen=True, slots=True)
class Heartbeat:
    """Outcome of one heartbeat: leases still held (with their cancel flag) and leases lost
    (``lost`` their task ids; ``lost_leases`` exactly which, when one task had two leases)."""

    held: dict[TaskId, bool]
    lost: frozenset[TaskId]
    lost_leases: frozenset[Lease] = frozenset()


@dataclasses.dataclass(frozen=True, slots=True)
class Round:
    """What one :func:`~queue_core.record_and_claim` did: the successes recorded, the new state
    of each failure recorded (a lost lease is absent from both), and the tasks claimed."""

    completed: set[TaskId]
    failed: dict[TaskId, TaskState]
    claimed: list[Claimed]


@dataclasses.dataclass(frozen=True, slots=True)
class Failure:
    """How an attempt failed. ``retry_in`` (seconds) overrides the backoff when retryable."""

    lease: Lease
    error_type: str
    error_message: str
    error_traceback: str | None = None
    retryable: bool = True
    retry_in: float | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class QueueStats:
    """Counts per state for one queue, and how long its oldest due task has waited (seconds)."""

    queue: str
    counts: dict[TaskState, int]
    oldest_due_age: float | None
