"""The API's settings: one frozen value, read once from ``TASKROW_*`` keys at the edge."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from queue_core import (
    DEFAULT_SCHEMA,
    DEFAULT_TENANT,
    InvalidTaskError,
    Pooler,
    pooler_mode,
    schema_name,
)
from queue_core.validation import queue_name

MIB = 1024 * 1024
MIN_SECRET_LENGTH = 32
#: The default of ``ApiSettings.enqueued_lines``: as many as a worker's ``task.succeeded``.
ENQUEUED_LINES_PER_SECOND = 100


class SettingsError(ValueError):
    """A ``TASKROW_*`` setting has a value the API cannot use; the message names it."""


@dataclasses.dataclass(frozen=True)
class ApiSettings:
    """How the API behaves. Times are in seconds.

    ``auth_enabled`` False serves every request as ``default_tenant`` with every scope (logged
    as a warning at start). ``queue_depth_limit`` None disables the 429 back-pressure check.
    ``task_routes`` maps task names to the queue an enqueue without ``queue`` goes to
    (``TASKROW_TASK_ROUTES=send_email=emails,report=reports``); other tasks go to ``default``.
    """

    database_url: str | None = None
    schema: str = DEFAULT_SCHEMA
    auth_enabled: bool = True
    default_tenant: str = DEFAULT_TENANT
    max_body_bytes: int = MIB
    max_batch: int = 1000
    queue_depth_limit: int | None = None
    poll_after: int = 1
    busy_retry_after: int = 5
    unavailable_retry_after: int = 2
    max_wait: float = 30.0
    wait_check_interval: float = 0.25
    max_waiting_requests: int = 8
    pool_size: int = 10
    pool_overflow: int = 10
    # What stands between the API and Postgres (TASKROW_POOLER): "transaction" behind a
    # transaction-pooling PgBouncer (no prepared statements).
    pooler: Pooler = "none"
    # The dashboard's cookie signing key (None: the dashboard answers that it is not set up),
    # and whether its session cookie is Secure (turn off only for plain-http development).
    secret_key: str | None = dataclasses.field(default=None, repr=False)
    dashboard_secure_cookie: bool = True
    task_routes: Mapping[str, str] = dataclasses.field(default_factory=dict)
    # ``api.enqueued`` lines a second per process at most (TASKROW_ENQUEUED_LINES, a number or
    # ``all``; None: one for every task); the tasks beyond are counted in one
    # ``api.enqueued_count`` line a second. At debug level every task has its line.
    enqueued_lines: int | None = ENQUEUED_LINES_PER_SECOND

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ApiSettings:
        """Settings from ``TASKROW_*`` keys (``app.config`` or the environment); others keep
        their defaults. ``TASKROW_DATABASE_URL`` falls back to ``DATABASE_URL``."""
        read = _Reader(values)
        defaults = cls()
        return cls(
            database_url=read.text("DATABASE_URL") or _plain(values.get("DATABASE_URL")),
            schema=schema_name(read.text("SCHEMA") or defaults.schema),
            auth_enabled=read.flag("AUTH", defaults.auth_enabled),
            default_tenant=read.text("DEFAULT_TENANT") or defaults.default_tenant,
            max_body_bytes=read.integer("MAX_BODY_BYTES", defaults.max_body_bytes),
            max_batch=read.integer("MAX_BATCH", defaults.max_batch),
            queue_depth_limit=read.optional_integer("QUEUE_DEPTH_LIMIT"),
            poll_after=read.integer("POLL_AFTER", defaults.poll_after),
            busy_retry_after=read.integer("BUSY_RETRY_AFTER", defaults.busy_retry_after),
            max_wait=float(read.integer("MAX_WAIT", int(defaults.max_wait))),
            max_waiting_requests=read.integer(
                "MAX_WAITING_REQUESTS", defaults.max_waiting_requests
            ),
            pool_size=read.integer("POOL_SIZE", defaults.pool_size),
            pool_overflow=read.integer("POOL_OVERFLOW", defaults.pool_overflow, low=0),
            pooler=pooler_mode(read.text("POOLER")),
            secret_key=_secret(read.text("SECRET_KEY")),
            dashboard_secure_cookie=read.flag(
                "DASHBOARD_SECURE_COOKIE", defaults.dashboard_secure_cookie
            ),
            task_routes=read.routes("TASK_ROUTES"),
            enqueued_lines=read.lines_a_second("ENQUEUED_LINES", defaults.enqueued_lines),
        )


def _route(item: str, name: str) -> tuple[str, str]:
    task, equals, queue = item.strip().partition("=")
    if not equals or not task.strip() or not queue.strip():
        raise SettingsError(f"TASKROW_{name}: {item.strip()!r} is not task=queue")
    return task.strip(), queue.strip()


def _secret(value: str | None) -> str | None:
    """The dashboard's signing key: unset, or long enough to sign with."""
    if value is not None and len(value) < MIN_SECRET_LENGTH:
        raise SettingsError(
            f"TASKROW_SECRET_KEY: must be at least {MIN_SECRET_LENGTH} characters, not "
            f"{len(value)} (make one with: python3 -c 'import secrets; "
            "print(secrets.token_urlsafe(32))')"
        )
    return value


def _plain(value: object) -> str | None:
    return str(value) if value else None


class _Reader:
    """Typed reads of ``TASKROW_<name>`` keys whose values may be strings (environment)."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = values

    def _raw(self, name: str) -> object:
        return self._values.get(f"TASKROW_{name}")

    def text(self, name: str) -> str | None:
        return _plain(self._raw(name))

    def flag(self, name: str, default: bool) -> bool:
        raw = self._raw(name)
        if raw is None or raw == "":
            return default
        if isinstance(raw, bool):
            return raw
        lowered = str(raw).strip().lower()
        if lowered in ("1", "true", "on", "yes", "enabled"):
            return True
        if lowered in ("0", "false", "off", "no", "disabled"):
            return False
        raise SettingsError(f"TASKROW_{name}: {raw!r} is not on/off")

    def routes(self, name: str) -> dict[str, str]:
        """``task=queue`` pairs separated by commas (or a mapping, from ``app.config``)."""
        raw = self._raw(name)
        if raw is None or raw == "":
            return {}
        if isinstance(raw, Mapping):
            pairs = [(str(task), str(queue)) for task, queue in raw.items()]
        else:
            pairs = [_route(item, name) for item in str(raw).split(",") if item.strip()]
        try:
            return {task: queue_name(queue, "queue") for task, queue in pairs}
        except InvalidTaskError as exc:
            raise SettingsError(f"TASKROW_{name}: {exc.reason}") from exc

    def lines_a_second(self, name: str, default: int | None) -> int | None:
        """A number of lines a second (0 or more), or ``all`` (None: no limit)."""
        raw = self._raw(name)
        if isinstance(raw, str) and raw.strip().lower() == "all":
            return None
        if raw is None and default is None:
            return None
        return self.integer(name, default or 0, low=0)

    def integer(self, name: str, default: int, *, low: int = 1) -> int:
        value = self.optional_integer(name, low=low)
        return default if value is None else value

    def optional_integer(self, name: str, *, low: int = 1) -> int | None:
        raw = self._raw(name)
        if raw is None or raw == "":
            return None
        try:
            value = int(str(raw))
        except ValueError as exc:
            raise SettingsError(f"TASKROW_{name}: {raw!r} is not an integer") from exc
        if value < low:
            raise SettingsError(f"TASKROW_{name}: must be at least {low}, not {value}")
        return value
