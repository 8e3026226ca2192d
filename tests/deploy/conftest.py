"""A real PgBouncer (Debian's package) in front of the session's test Postgres.

One PgBouncer per pooling mode, started on first use and stopped at the end of the session:
it listens on a free 127.0.0.1 port and forwards every database name (the per-test databases
included) to the test server. PgBouncer refuses to run as root: as root it drops to the
embedded server's service user (``-u``). Without the ``pgbouncer`` program these tests skip,
except under ``CI=true``, where they fail (``make pgbouncer`` installs it).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from taskrow.embedded import _service_user, free_port

from ..support import PostgresServer

CANDIDATES = ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer")


def pgbouncer_program() -> str:
    installed = (p for p in CANDIDATES if os.access(p, os.X_OK))
    found = shutil.which("pgbouncer") or next(installed, None)
    if found:
        return found
    reason = "pgbouncer is not installed: run `make pgbouncer` (as root on Debian) first"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


class PgBouncer:
    """One running PgBouncer in ``mode`` (``transaction`` or ``session``) before ``server_url``."""

    def __init__(
        self, program: str, server_url: str, mode: str, pool_size: int = 20, port: int = 0
    ) -> None:
        target = sa.make_url(server_url)
        self.mode = mode
        self.port = port or free_port()
        self.folder = Path(tempfile.mkdtemp(prefix=f"taskrow-pgbouncer-{mode}-"))
        user, password = target.username or "postgres", target.password or ""
        (self.folder / "userlist.txt").write_text(f'"{user}" "{password}"\n')
        (self.folder / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host={target.host or '127.0.0.1'} port={target.port or 5432}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {self.folder / 'userlist.txt'}\n"
            f"pool_mode = {mode}\n"
            "max_client_conn = 400\n"
            f"default_pool_size = {pool_size}\n"
        )
        self.log = self.folder / "pgbouncer.log"
        command = [program, str(self.folder / "pgbouncer.ini")]
        if os.geteuid() == 0:  # it refuses root: drop to the embedded server's user
            command[1:1] = ["-u", _service_user()]
        with self.log.open("wb") as sink:
            self.process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
        self._wait_listening()
        self._user, self._password = user, target.password

    def url(self, database: str) -> str:
        """A URL of ``database`` through this PgBouncer."""
        return sa.URL.create(
            "postgresql",
            username=self._user,
            password=self._password,
            host="127.0.0.1",
            port=self.port,
            database=database,
        ).render_as_string(hide_password=False)

    def via(self, direct_url: str) -> str:
        """The same database as ``direct_url``, reached through this PgBouncer."""
        return self.url(sa.make_url(direct_url).database or "postgres")

    def _wait_listening(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"pgbouncer exited: {self.log.read_text(errors='replace')}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"pgbouncer is not listening: {self.log.read_text(errors='replace')}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM: immediate shutdown
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)


Bouncer = Callable[..., PgBouncer]


@pytest.fixture(scope="session")
def pgbouncer(pg_server: PostgresServer) -> Iterator[Bouncer]:
    """``pgbouncer("transaction")`` / ``pgbouncer("session")``: the running PgBouncer (20 server
    connections per database; ``pgbouncer("transaction", 1)``: one)."""
    program = pgbouncer_program()
    running: dict[tuple[str, int], PgBouncer] = {}

    def get(mode: str, pool_size: int = 20) -> PgBouncer:
        if (mode, pool_size) not in running:
            running[mode, pool_size] = PgBouncer(program, pg_server.url, mode, pool_size)
        return running[mode, pool_size]

    try:
        yield get
    finally:
        for bouncer in running.values():
            bouncer.stop()
