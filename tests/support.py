"""Helpers for tests: waiting on conditions with a deadline, and database URLs."""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar

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


class Clock:
    """A clock a test moves by hand (``clock.now += 1``), for code that takes a clock."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def wait_for(
    condition: Callable[[], T | Literal[False] | None],
    *,
    timeout: float = 10.0,
    interval: float = 0.02,
    what: str = "",
) -> T:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds.
    Its value then, so ``lambda: (t := fetch()).done and t`` waits for and returns ``t``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(interval)


@contextlib.contextmanager
def embedded_server(prefix: str) -> Iterator[EmbeddedPostgres]:
    """A fresh embedded Postgres, started, in a folder of its own outside pytest's temporary
    tree (a pytest run starting may close that tree's modes, locking the server's service user
    out); stopped and removed with its data afterwards."""
    from taskrow.embedded import EmbeddedPostgres

    folder = Path(tempfile.mkdtemp(prefix=prefix))
    server = EmbeddedPostgres(folder / "data")
    try:
        server.start()
        yield server
    finally:
        server.remove()
        shutil.rmtree(folder, ignore_errors=True)
