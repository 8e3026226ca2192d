"""Helpers for tests: waiting on conditions with a deadline, and database URLs."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import sqlalchemy as sa

if TYPE_CHECKING:
    from taskrow.embedded import EmbeddedPostgres

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class PostgresServer:
    url: str
    embedded: EmbeddedPostgres | None


def database_url(server_url: str, database: str) -> str:
    return sa.make_url(server_url).set(database=database).render_as_string(hide_password=False)


def wait_for(
    condition: Callable[[], T], *, timeout: float = 10.0, interval: float = 0.02, what: str = ""
) -> T:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(interval)
