"""The LISTEN side of enqueue wake-ups: a dedicated connection that yields queue names.

Enqueue sends ``pg_notify(notify_channel(schema), queue)`` at commit; a :class:`Listener`
receives those. Notifications are a latency optimisation only: one can be lost (for example
while the connection is being re-established), so a listener's user must also poll. The
listener holds its own autocommit psycopg connection (LISTEN needs a session that outlives
transactions, which a pooled SQLAlchemy connection does not promise) and re-connects with
backoff when the connection drops; it never raises for a database outage.
"""

from __future__ import annotations

import logging
import time

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from .db import DEAD_PEER_DETECTION
from .schema import DEFAULT_SCHEMA, notify_channel
from .urls import libpq_conninfo

logger = logging.getLogger(__name__)

MAX_RECONNECT_DELAY = 5.0
#: How every Listener's session is named in pg_stat_activity (how stalled ones are found).
APPLICATION_NAME = "taskrow-listen"
#: How often a listener looks at the notification queue and at the other listeners.
QUEUE_CHECK_SECONDS = 5.0
#: Above this fraction of the notification queue in use, every check logs a warning.
QUEUE_WARN_USAGE = 0.05

# A listener that stops reading (its process stopped, or hung) pins the cluster's notification
# queue: it grows with every notification until that session ends, and once full every enqueue
# fails. Its backend is then blocked writing to it (wait event ClientWrite). A listener found
# so at two checks in a row while the queue is in use is terminated (it is a taskrow listener,
# by its application_name; its worker re-connects if it ever resumes).
_QUEUE_CHECK = """
SELECT pg_notification_queue_usage() AS usage,
       ARRAY(SELECT pid FROM pg_stat_activity
             WHERE application_name = %(application_name)s AND wait_event = 'ClientWrite'
               AND pid <> pg_backend_pid()) AS blocked
"""
_TERMINATE_STALLED = """
SELECT pid, pg_terminate_backend(pid) AS terminated
FROM (SELECT pid FROM pg_stat_activity
      WHERE pid = ANY(%(pids)s) AND application_name = %(application_name)s
        AND wait_event = 'ClientWrite' AND pg_notification_queue_usage() > 0
      OFFSET 0) AS stalled
"""


class Listener:
    """LISTENs on the enqueue channel of ``schema``; call :meth:`wait` from one thread only."""

    def __init__(self, url: str, *, schema: str = DEFAULT_SCHEMA, connect_timeout: int = 2) -> None:
        self._conninfo = libpq_conninfo(url)  # every host of a multi-host URL
        self._channel = notify_channel(schema)
        self._connect_timeout = connect_timeout
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None
        self._retry_at = 0.0
        self._delay = 0.1
        #: Incremented at each (re-)connection: notifications may have been missed before it.
        self.connections = 0
        #: The notification queue's usage (0 to 1) at the last check.
        self.queue_usage = 0.0
        self._next_check = 0.0
        self._blocked: set[int] = set()

    def wait(self, timeout: float) -> list[str]:
        """Queue names notified within ``timeout`` seconds (empty when none, or when offline).

        Returns as soon as at least one notification arrived, with any others already pending.
        """
        conn = self._connection()
        if conn is None:
            time.sleep(min(timeout, max(0.0, self._retry_at - time.monotonic())))
            return []
        try:
            names = [n.payload for n in conn.notifies(timeout=timeout, stop_after=1)] + [
                n.payload for n in conn.notifies(timeout=0)
            ]
            if time.monotonic() >= self._next_check:
                self._check_queue(conn)
            return names
        except psycopg.Error as exc:
            logger.warning("listener.lost error=%s", _first_line(exc))
            self._drop()
            return []

    def close(self) -> None:
        """Close the connection; a later :meth:`wait` re-opens it."""
        self._drop()
        self._retry_at = 0.0

    def _check_queue(self, conn: psycopg.Connection[tuple[object, ...]]) -> None:
        """Watch the queue's usage; terminate the taskrow listeners that stopped reading."""
        self._next_check = time.monotonic() + QUEUE_CHECK_SECONDS
        name = {"application_name": APPLICATION_NAME}
        row = conn.execute(_QUEUE_CHECK, name).fetchone()
        if row is None:
            return
        usage = float(row[0])  # type: ignore[arg-type]
        blocked = {int(pid) for pid in row[1]}  # type: ignore[attr-defined]
        self.queue_usage = usage
        if usage >= QUEUE_WARN_USAGE:
            logger.warning("notify.queue_filling usage=%.3f blocked=%d", usage, len(blocked))
        stalled, self._blocked = blocked & self._blocked, blocked if usage > 0 else set()
        if stalled and usage > 0:
            params = {**name, "pids": sorted(stalled)}
            try:
                ended = conn.execute(_TERMINATE_STALLED, params).fetchall()
            except psycopg.errors.InsufficientPrivilege as exc:  # another role's session
                logger.warning("listener.stalled_not_terminated error=%s", _first_line(exc))
                return
            for pid, terminated in ended:
                logger.warning(
                    "listener.stalled_terminated pid=%s terminated=%s usage=%.4f",
                    pid,
                    terminated,
                    usage,
                )

    def _connection(self) -> psycopg.Connection[tuple[object, ...]] | None:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        if time.monotonic() < self._retry_at:
            return None
        try:
            conn = psycopg.connect(
                make_conninfo(
                    self._conninfo, **DEAD_PEER_DETECTION, application_name=APPLICATION_NAME
                ),
                autocommit=True,
                connect_timeout=self._connect_timeout,
            )
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
        except psycopg.Error as exc:
            self._retry_at = time.monotonic() + self._delay
            self._delay = min(self._delay * 2, MAX_RECONNECT_DELAY)
            logger.warning("listener.connect_failed error=%s", _first_line(exc))
            return None
        self._conn, self._delay = conn, 0.1
        self.connections += 1
        logger.info("listener.connected channel=%s", self._channel)
        return conn

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg.Error:
                logger.debug("listener.close_failed")
        self._conn = None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
