"""Child processes of the chaos cluster: spawned in their own session, killed with it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from pathlib import Path

from .proxy import Link

ROOT = Path(__file__).resolve().parents[2]
HOST = socket.gethostname()


def spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
            stdout=sink,
            stderr=sink,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process and everything in its session (children, forkserver, pool)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)


class WorkerSlot:
    """One worker kept alive by the cluster (restarted when it exits, like a supervisor)."""

    def __init__(self, index: int, link: Link, args: list[str]) -> None:
        self.index = index
        self.link = link
        self.args = args
        self.env: dict[str, str] = {}  # more environment of its processes
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self._connections_at_start = 0

    def started(self) -> None:
        self.starts += 1
        self._connections_at_start = self.link.connections

    @property
    def ready(self) -> bool:
        """The current process has connected to the database (it is past its imports)."""
        return self.link.connections > self._connections_at_start

    @property
    def worker_id(self) -> str:
        """What the current process's worker id starts with (``host:pid:``; a random suffix
        per start follows)."""
        assert self.process is not None
        return f"{HOST}:{self.process.pid}:"
