"""Deterministic interleavings of real Postgres sessions, without sleeps.

- :func:`held` opens a transaction that does one step and keeps its row locks until the block
  ends (then commits): the other session's statement, started meanwhile, has taken its
  snapshot and found the row, and waits on the lock; it resumes only after the commit,
  re-checking its WHERE clause on the row's latest version.
- :class:`Background` runs a statement on its own connection in a thread and tells when its
  backend is waiting on a lock (``pg_stat_activity``), with deadlines, so a test knows it is
  paused at that point before letting the holder commit.
- :func:`before_statement` runs an action (another session's commit) just before a chosen
  statement of a multi-statement call is sent: the pause between two statements.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

import queue_core.db
import queue_core.steps

from ..support import wait_for

T = TypeVar("T")
DEADLINE = 30.0


@contextlib.contextmanager
def held(engine: Engine) -> Iterator[Connection]:
    """A transaction whose locks are held until the block ends, then committed."""
    with engine.begin() as conn:
        yield conn


class Background(Generic[T]):
    """``step(conn)`` in a transaction of its own, in a thread; committed when it returns."""

    def __init__(self, engine: Engine, step: Callable[[Connection], T]) -> None:
        self._engine = engine
        self._step = step
        self._pid: int | None = None
        self._ready = threading.Event()
        self._value: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(DEADLINE):
            raise AssertionError("the background session never connected")

    def _run(self) -> None:
        try:
            with self._engine.begin() as conn:
                self._pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
                self._ready.set()
                self._value = self._step(conn)
        except BaseException as exc:
            self._error = exc
        finally:
            self._ready.set()

    def wait_blocked(self, observer: Engine) -> None:
        """Return once the step's backend waits on a lock (a row lock, or a transaction's)."""

        def blocked() -> bool:
            with observer.connect() as conn:
                kind = conn.execute(
                    sa.text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"),
                    {"pid": self._pid},
                ).scalar()
            if self._error is not None or not self._thread.is_alive():
                raise AssertionError(f"the step ended instead of waiting: {self._error!r}")
            return kind == "Lock"

        wait_for(blocked, timeout=DEADLINE, what="the background statement to wait on a lock")

    def result(self) -> T:
        self._thread.join(DEADLINE)
        if self._thread.is_alive():
            raise AssertionError("the background statement did not finish")
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


@contextlib.contextmanager
def before_statement(engine: Engine, fragment: str, action: Callable[[], None]) -> Iterator[None]:
    """Run ``action`` once, just before the first statement containing ``fragment`` runs."""
    done: list[bool] = []

    def hook(conn: object, cursor: object, statement: str, *rest: object) -> None:
        if not done and fragment in statement:
            done.append(True)
            action()

    # Statements run through SQLAlchemy fire its event; queue_core's steps run theirs on the
    # psycopg connection underneath (run_direct), so that door is watched too.
    direct = queue_core.db.run_direct  # what queue_core.steps imported

    def watched(executor: Any, statement: Any, params: Any) -> Any:
        hook(None, None, str(statement), params)
        return direct(executor, statement, params)

    sa.event.listen(engine, "before_cursor_execute", hook)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(queue_core.steps, "run_direct", watched)
            yield
    finally:
        sa.event.remove(engine, "before_cursor_execute", hook)
    assert done, f"no statement containing {fragment!r} ran"
