"""A LISTEN session that stops reading pins the notification queue; a worker's listener finds
such a taskrow listener (by its application_name) and terminates it, and no other session."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

import queue_core
from queue_core.notify import APPLICATION_NAME

from ..support import wait_for
from .conftest import TIMEOUT, StartWorker

CHANNEL = queue_core.notify_channel("taskrow")
Sessions = dict[str, psycopg.Connection[tuple[object, ...]]]


@pytest.fixture
def stalled(db_url: str) -> Iterator[Sessions]:
    """Two sessions that LISTEN and never read: a taskrow listener and someone else's."""
    sessions = {
        name: psycopg.connect(db_url, autocommit=True, application_name=name)
        for name in (APPLICATION_NAME, "someone-else")
    }
    for conn in sessions.values():
        conn.execute(f'LISTEN "{CHANNEL}"')
    yield sessions
    for conn in sessions.values():
        conn.close()


@pytest.mark.slow  # waits for the stall to be noticed, about 6 s
def test_a_stalled_taskrow_listener_is_terminated(
    engine: Engine, start_worker: StartWorker, stalled: Sessions
) -> None:
    pids = {name: conn.info.backend_pid for name, conn in stalled.items()}
    proc = start_worker()
    with engine.begin() as conn:  # ~24 MB of distinct notifications: their sockets fill up
        conn.execute(
            sa.text(
                "SELECT count(pg_notify(:ch, repeat('x', 7900) || i))"
                " FROM generate_series(1, 3000) AS i"
            ),
            {"ch": CHANNEL},
        )
    assert _usage(engine) > 0  # pinned by the sessions that do not read
    wait_for(
        lambda: _waiting(engine) >= set(pids.values()),
        timeout=TIMEOUT,
        what="both sessions blocked writing notifications",
    )
    wait_for(
        lambda: pids[APPLICATION_NAME] not in _backends(engine),
        timeout=TIMEOUT,
        what="the stalled taskrow listener terminated",
    )
    proc.wait_log("listener.stalled_terminated")
    assert pids["someone-else"] in _backends(engine)  # not ours: left alone
    stalled["someone-else"].close()
    wait_for(lambda: _usage(engine) == 0, timeout=TIMEOUT, what="the queue drained")


def _usage(engine: Engine) -> float:
    with engine.connect() as conn:
        return float(conn.execute(sa.text("SELECT pg_notification_queue_usage()")).scalar_one())


def _backends(engine: Engine) -> set[int]:
    with engine.connect() as conn:
        return set(conn.execute(sa.text("SELECT pid FROM pg_stat_activity")).scalars())


def _waiting(engine: Engine) -> set[int]:
    with engine.connect() as conn:
        query = "SELECT pid FROM pg_stat_activity WHERE wait_event = 'ClientWrite'"
        return set(conn.execute(sa.text(query)).scalars())
