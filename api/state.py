"""What one mounted API holds, kept in ``app.extensions["taskrow"]``."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import threading
from collections.abc import Iterator
from typing import Any

from flask import current_app
from sqlalchemy.engine import Connection, Engine

import queue_core
from queue_core.lines import LineBudget

from .keycache import VerifiedKeys
from .settings import ApiSettings

EXTENSION_KEY = "taskrow"


@dataclasses.dataclass(frozen=True)
class ApiState:
    """Settings, the engine, the semaphore bounding concurrent long polls, and the API keys
    verified lately (for the enqueue routes, see api.auth)."""

    settings: ApiSettings
    engine: Engine
    waiting_slots: threading.BoundedSemaphore
    verified_keys: VerifiedKeys[Any] = dataclasses.field(default_factory=VerifiedKeys)

    @functools.cached_property
    def enqueued_lines(self) -> LineBudget:
        """The budget of ``api.enqueued`` lines (``settings.enqueued_lines`` a second)."""
        return LineBudget(self.settings.enqueued_lines)

    @functools.cached_property
    def autocommit_engine(self) -> Engine:
        """The same pool, its connections in autocommit mode while checked out."""
        return self.engine.execution_options(isolation_level="AUTOCOMMIT")


def state() -> ApiState:
    found: ApiState = current_app.extensions[EXTENSION_KEY]
    return found


@contextlib.contextmanager
def transaction() -> Iterator[Connection]:
    """A pooled connection in a transaction, committed at the end of the block.

    Connecting, every statement and the commit are translated by queue_core, so a dead
    database or a commit whose outcome is unknown surfaces as ``DatabaseUnavailable`` (503),
    within the pool and connect timeouts.
    """
    with queue_core.transaction(state().engine) as conn:
        yield conn


@contextlib.contextmanager
def autocommit() -> Iterator[Connection]:
    """A pooled connection on which each statement commits by itself, as translated as
    :func:`transaction`'s. For a route whose one write is one statement: no BEGIN and COMMIT
    round trips around it."""
    with queue_core.connection(state().autocommit_engine) as conn:
        yield conn
