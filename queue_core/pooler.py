"""Connection poolers between taskrow and Postgres (PgBouncer and the like).

A **session** pooler hands each client connection one server connection for its whole life:
everything works as on a direct connection. A **transaction** pooler hands the next
transaction of the same client connection whichever server connection is free, so nothing may
outlive a transaction: no server-side prepared statements (psycopg prepares a statement after
a few executions, and the next transaction finds it missing, or another client's in place), no
session settings (``SET``), no ``LISTEN``, no session advisory locks. taskrow keeps every
setting transaction-local (``set_config(..., true)``) and takes no advisory lock; with
``pooler="transaction"`` its engines prepare nothing, and its workers wake by polling unless
given a direct URL to ``LISTEN`` on.

:func:`transaction_pooler_seen` notices a transaction pooler that was not declared, so the
entry points refuse to start with a message naming the fix rather than failing request after
request.
"""

from __future__ import annotations

import logging
import time
from typing import cast

import psycopg
from psycopg.conninfo import make_conninfo

from .db import DEAD_PEER_DETECTION, POOLER_FIX, POOLERS, Pooler, engine_url
from .errors import DatabaseUnavailable, InvalidTaskError, PoolerMismatch

logger = logging.getLogger(__name__)


def pooler_mode(value: str | None) -> Pooler:
    """Validate a pooler setting (``none``, ``session`` or ``transaction``; empty: ``none``)."""
    cleaned = (value or "none").strip().lower()
    if cleaned not in POOLERS:
        raise InvalidTaskError("pooler", f"{value!r} is not one of {', '.join(POOLERS)}")
    return cleaned


def transaction_pooler_seen(url: str, *, connect_timeout: int = 2) -> bool:
    """Whether ``url`` leads through a transaction (or statement) pooler.

    Two client connections are opened: the first runs a statement, then the second holds a
    transaction open while the first runs another. Without a pooler, or behind a session
    pooler, each client keeps its own server process throughout. A transaction pooler gives the
    second client the server the first one just released (PgBouncer reuses the most recently
    released one), or moves the first client to another server: either is seen in
    ``pg_backend_pid()``. Best effort: a server released by a third client in between can hide
    the pooler (never the other way round: a direct connection is never reported as pooled).
    """
    conninfo = make_conninfo(
        engine_url(url).set(drivername="postgresql").render_as_string(hide_password=False),
        **DEAD_PEER_DETECTION,
    )
    try:
        with (
            _connect(conninfo, connect_timeout) as first,
            _connect(conninfo, connect_timeout) as second,
        ):
            before = _backend_pid(first)
            with second.transaction():
                if _backend_pid(second) == before:
                    return True  # (asking first now would wait for a pool of one to free up)
                after = _backend_pid(first)
    except psycopg.Error as exc:
        text = str(exc).strip()
        raise DatabaseUnavailable(text.splitlines()[0] if text else type(exc).__name__) from exc
    return after != before


def check_pooler(url: str, pooler: Pooler, *, connect_timeout: int = 2, wait: float = 0.0) -> None:
    """Raise :class:`PoolerMismatch` when ``url`` leads through a transaction pooler but
    ``pooler`` is not ``"transaction"``; nothing to check when it is.

    A database that cannot be reached is not an answer: the check is tried again for up to
    ``wait`` seconds (``math.inf``: until it answers), then skipped, logged as
    ``pooler.check_skipped``. A worker waits (its outcomes would be refused at random through
    an undeclared pooler, and its tasks run again); the API and the CLI do not (a refused
    enqueue was never acknowledged)."""
    if pooler == "transaction":
        return
    deadline = time.monotonic() + wait
    delay = 0.2
    while True:
        try:
            seen = transaction_pooler_seen(url, connect_timeout=connect_timeout)
            break
        except DatabaseUnavailable as exc:
            if time.monotonic() + delay > deadline:
                logger.info("pooler.check_skipped error=%s", exc)
                return
            logger.info("pooler.check_waiting retry_in=%.1f error=%s", delay, exc)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
    if not seen:
        return
    raise PoolerMismatch(
        "the database URL leads through a transaction-pooling connection pooler (such as "
        "PgBouncer with pool_mode = transaction), where prepared statements and session "
        f"state break at random: {POOLER_FIX}"
    )


def _connect(conninfo: str, connect_timeout: int) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        conninfo, autocommit=True, prepare_threshold=None, connect_timeout=connect_timeout
    )


def _backend_pid(conn: psycopg.Connection[tuple[object, ...]]) -> int:
    row = conn.execute("SELECT pg_backend_pid()").fetchone()
    assert row is not None
    return int(cast(int, row[0]))
