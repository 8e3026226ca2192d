"""The system under test as real processes: Postgres, the API under gunicorn, workers, load.

A :class:`Cluster` owns one fresh database on a private :class:`EmbeddedPostgres`, one proxy
:class:`~tests.chaos.proxy.Link` per client process (so a fault can hit one worker alone), a
``taskrow api`` (gunicorn) and ``taskrow worker`` processes, each in its own session so that
:meth:`Cluster.close` kills it with everything it started. Faults are methods that record an
:class:`~tests.chaos.checker.Event` for the checker.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import sqlalchemy as sa
from sqlalchemy.engine import Engine

import queue_core
from queue_core import migrations
from taskrow.embedded import EmbeddedPostgres, _service_user, free_port

from ..deploy.conftest import PgBouncer, pgbouncer_program
from ..support import database_url, wait_for
from .checker import Event
from .handlers import EXECUTIONS_DDL, RECORD_URL_ENV, REDRIVEN_ENV, STARTS_ENV
from .processes import WorkerSlot, kill_group, spawn
from .proxy import Link


class Cluster:
    """One scenario's processes on a fresh database of ``server``."""

    def __init__(self, server: EmbeddedPostgres, folder: Path, *, lease: float = 2.0) -> None:
        self.server = server
        self.folder = folder
        self.lease = lease
        self.name = f"chaos_{uuid.uuid4().hex[:10]}"
        self.url = database_url(server.url, self.name)
        self.events: list[Event] = []
        self.workers: list[WorkerSlot] = []
        self.links: list[Link] = []
        self.api: subprocess.Popen[bytes] | None = None
        self.api_port = free_port()
        self.loads: list[subprocess.Popen[bytes]] = []
        self.engine: Engine = queue_core.create_engine(self.url, pool_size=2, max_overflow=2)
        self.key = ""
        self.bouncer: PgBouncer | None = None

    # -- set-up ---------------------------------------------------------------------------

    def create(self) -> None:
        """Create and migrate the database, the executions table and an API key."""
        admin = sa.create_engine(
            queue_core.engine_url(self.server.url), isolation_level="AUTOCOMMIT"
        )
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{self.name}"'))
        finally:
            admin.dispose()
        migrations.upgrade(self.engine)
        with self.engine.begin() as conn:
            conn.execute(sa.text(EXECUTIONS_DDL))
            self.key = queue_core.create_key(conn, tenant="chaos").token

    def _link(self, *, via_bouncer: bool = False) -> Link:
        """A proxy link to the server, or to the PgBouncer (:meth:`start_pgbouncer`)."""
        if via_bouncer:
            assert self.bouncer is not None, "start_pgbouncer() first"
        link = Link(self.bouncer.port if via_bouncer and self.bouncer else self.server.port)
        self.links.append(link)
        return link

    def start_pgbouncer(self) -> None:
        """A real PgBouncer in transaction pooling before the server (tests/deploy's)."""
        self.bouncer = PgBouncer(pgbouncer_program(), self.server.url, "transaction")

    def _proxied(self, link: Link) -> str:
        return sa.make_url(self.url).set(port=link.port).render_as_string(hide_password=False)

    def start_api(self, *, workers: int = 2, threads: int = 8, via_bouncer: bool = False) -> None:
        """``taskrow api``; ``via_bouncer``: through the PgBouncer (TASKROW_POOLER=transaction)."""
        link = self._link(via_bouncer=via_bouncer)
        self.api_link = link
        command = [
            sys.executable,
            "-m",
            "taskrow.cli",
            "api",
            "--bind",
            f"127.0.0.1:{self.api_port}",
        ]
        command += ["--workers", str(workers), "--threads", str(threads)]
        env = {"TASKROW_DATABASE_URL": self._proxied(link), "TASKROW_POOL_SIZE": "4"}
        if via_bouncer:
            env["TASKROW_POOLER"] = "transaction"
        self.api = spawn(command, env, self.folder / "api.log")
        wait_for(self._api_answers, timeout=30, what="the API to answer")

    def _api_answers(self) -> bool:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.api_port, timeout=2)
            conn.request("GET", "/v1/queues")
            conn.getresponse().read()
            conn.close()
            return True
        except OSError:
            return False

    def add_workers(
        self,
        count: int,
        *extra: str,
        concurrency: int = 4,
        app: str = "tests.chaos.handlers",
        via_bouncer: bool = False,
        env: dict[str, str] | None = None,
    ) -> None:
        """``count`` more workers of ``app``; ``via_bouncer``: through the PgBouncer
        (TASKROW_POOLER=transaction; give ``--poll-only`` or a direct TASKROW_LISTEN_URL)."""
        first = len(self.workers)
        for _ in range(count):
            args = ["--app", app, "--queues", "default"]
            args += ["--concurrency", str(concurrency), "--lease", f"{self.lease:g}"]
            args += ["--poll-interval", "0.5", "--grace", "1", *extra]
            slot = WorkerSlot(len(self.workers), self._link(via_bouncer=via_bouncer), args)
            slot.env = {**({"TASKROW_POOLER": "transaction"} if via_bouncer else {}), **(env or {})}
            self.workers.append(slot)
            self._start_worker(slot)
        self._wait_started(first)

    def _wait_started(self, first: int) -> None:
        """Until the workers from ``first`` on are ready (the proxy counts their connections)."""
        try:
            started = self.workers[first:]
            wait_for(lambda: all(s.ready for s in started), timeout=60, what="the workers")
        except AssertionError as exc:
            logs = [(self.folder / f"worker-{s.index}.log") for s in self.workers]
            tails = "\n".join(log.read_text(errors="replace")[-1500:] for log in logs)
            raise AssertionError(f"{exc}; worker logs:\n{tails}") from None

    def _start_worker(self, slot: WorkerSlot) -> None:
        url = sa.make_url(self._proxied(slot.link)).update_query_dict(
            {"application_name": _application_name(slot)}
        )
        env = {
            "TASKROW_DATABASE_URL": url.render_as_string(hide_password=False),
            RECORD_URL_ENV: self.url,
            STARTS_ENV: str(self.starts_file),
            REDRIVEN_ENV: str(self.redriven_file),
            **slot.env,
        }
        command = [sys.executable, "-m", "taskrow.cli", "worker", *slot.args]
        slot.started()
        slot.process = spawn(command, env, self.folder / f"worker-{slot.index}.log")

    @property
    def starts_file(self) -> Path:
        """Where handlers of one-attempt tasks note that they started (see handlers.once)."""
        return self.folder / "starts.txt"

    @property
    def redriven_file(self) -> Path:
        """The ids of the tasks about to be re-driven (see handlers.fickle)."""
        return self.folder / "redriven.txt"

    def starts(self) -> frozenset[str]:
        if not self.starts_file.exists():
            return frozenset()
        return frozenset(self.starts_file.read_text().split())

    def supervise(self) -> None:
        """Restart every worker that exited (killed, or died of a poison task)."""
        for slot in self.workers:
            if slot.process is not None and slot.process.poll() is not None:
                kill_group(slot.process)  # its pool children too
                self._start_worker(slot)

    def start_load(
        self,
        *,
        count: int,
        seconds: float,
        mix: list[dict[str, object]],
        threads: int = 4,
        pause: float = 0.1,
        pattern: list[int] | None = None,
    ) -> Path:
        out = self.folder / f"load-{len(self.loads)}.txt"
        spec = {
            "port": self.api_port,
            "key": self.key,
            "count": count,
            "seconds": seconds,
            "mix": mix,
            "threads": threads,
            "pause": pause,
            "out": str(out),
            "pattern": pattern,
        }
        spec_file = self.folder / f"load-{len(self.loads)}.json"
        spec_file.write_text(json.dumps(spec))
        command = [sys.executable, "-m", "tests.chaos.loadgen", str(spec_file)]
        self.loads.append(spawn(command, {}, self.folder / "loadgen.log"))
        return out

    def loading(self) -> bool:
        return any(load.poll() is None for load in self.loads)

    def wait_load(self, timeout: float) -> None:
        for load in self.loads:
            load.wait(timeout=timeout)
            assert load.returncode == 0, (self.folder / "loadgen.log").read_text()

    # -- faults ---------------------------------------------------------------------------

    def _record(self, event: Event) -> None:
        """Keep the event for the checker and log it (faults.log, for reading worker logs)."""
        self.events.append(event)
        stamp = time.strftime("%H:%M:%S", time.localtime(event.at))
        held = "" if event.held is None else f" held={len(event.held)}"
        with (self.folder / "faults.log").open("a") as log:
            log.write(f"{stamp} {event.kind} for {event.end - event.at:.1f} s{held}\n")

    def _held(self, worker_id: str) -> frozenset[str]:
        """Ids the database shows running under a worker id that starts with ``worker_id``
        (``host:pid:``): the tasks that worker held."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT id FROM taskrow.tasks"
                    " WHERE state = 'running' AND starts_with(worker_id, :w)"
                ),
                {"w": worker_id},
            )
            return frozenset(str(row.id) for row in rows)

    def _backlog(self) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    sa.text(
                        "SELECT count(*) FROM taskrow.tasks"
                        " WHERE state = 'queued' AND run_at <= now()"
                    )
                ).scalar_one()
            )

    def busy_worker(self) -> WorkerSlot:
        """A random started worker that holds tasks right now (else any started one)."""
        ready = [s for s in self.workers if s.ready and s.process is not None]
        busy = [s for s in ready if self._held(s.worker_id)]
        return random.choice(busy or ready or self.workers)

    def kill_worker(self, slot: WorkerSlot | None = None) -> Event:
        """SIGKILL one worker process (its pool children are left to die on their own)."""
        slot = slot or self.busy_worker()
        assert slot.process is not None
        worker_id, at = slot.worker_id, time.time()
        slot.process.send_signal(signal.SIGKILL)
        slot.process.wait(timeout=10)
        event = Event("kill worker", at, at, self._held(worker_id), self._backlog())
        self._record(event)
        self.supervise()
        return event

    def pause_worker(self, slot: WorkerSlot, seconds: float) -> Event:
        """SIGSTOP a worker for ``seconds`` (past its lease), then SIGCONT it: a zombie."""
        assert slot.process is not None
        at = time.time()
        slot.process.send_signal(signal.SIGSTOP)
        # A statement it sent before it stopped still runs (and commits) on the server: what
        # it held is known once none of its connections is active any more.
        wait_for(
            lambda: not self._active_statements(slot),
            timeout=10,
            what=f"the statements of stopped worker {slot.index} to end",
        )
        held, backlog = self._held(slot.worker_id), self._backlog()
        try:
            time.sleep(seconds)
        finally:
            slot.process.send_signal(signal.SIGCONT)
        event = Event("zombie (SIGSTOP)", at, time.time(), held, backlog)
        self._record(event)
        return event

    def _active_statements(self, slot: WorkerSlot) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    sa.text(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE application_name = :name AND state = 'active'"
                    ),
                    {"name": _application_name(slot)},
                ).scalar_one()
            )

    def kill_api_worker(self) -> Event:
        """SIGKILL one gunicorn worker (the master starts a new one)."""
        assert self.api is not None
        children = psutil.Process(self.api.pid).children()
        at = time.time()
        if children:
            random.choice(children).kill()
        event = Event("kill gunicorn worker", at, at, frozenset())
        self._record(event)
        return event

    def crash_postgres(self, down: float) -> Event:
        """``pg_ctl stop -m immediate``, ``down`` seconds without a server, then start again."""
        at = time.time()
        self.server.stop(mode="immediate")
        try:
            time.sleep(down)
        finally:
            self.server.start()
        event = Event("postgres crash", at, time.time(), None)
        self._record(event)
        return event

    def kill_pgbouncer(self, down: float) -> Event:
        """SIGKILL the PgBouncer (every client and server connection through it dies), ``down``
        seconds without it, then start it again on the same port."""
        bouncer = self.bouncer
        assert bouncer is not None
        at = time.time()
        bouncer.process.kill()
        bouncer.process.wait(timeout=10)
        try:
            time.sleep(down)
        finally:
            command = [pgbouncer_program(), str(bouncer.folder / "pgbouncer.ini")]
            if os.geteuid() == 0:  # it refuses root (as in PgBouncer.__init__)
                command[1:1] = ["-u", _service_user()]
            with bouncer.log.open("ab") as sink:
                bouncer.process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
            bouncer._wait_listening()
        event = Event("pgbouncer kill", at, time.time(), None)
        self._record(event)
        return event

    def reset_connections(self) -> Event:
        at = time.time()
        for link in self.links:
            link.reset_all()
        event = Event("reset connections", at, at, None)
        self._record(event)
        return event

    def latency(self, seconds: float, duration: float) -> Event:
        at = time.time()
        for link in self.links:
            link.latency = seconds
        try:
            time.sleep(duration)
        finally:
            for link in self.links:
                link.latency = 0.0
        event = Event(f"latency {seconds * 1000:g} ms", at, time.time(), None)
        self._record(event)
        return event

    def blackhole(self, links: list[Link], duration: float) -> Event:
        at = time.time()
        for link in links:
            link.blackhole()
        try:
            time.sleep(duration)
        finally:
            for link in links:
                link.restore()
        event = Event(f"blackhole {duration:g} s", at, time.time(), None)
        self._record(event)
        return event

    # -- end ------------------------------------------------------------------------------

    def close(self) -> None:
        """Kill every process this cluster started, close the proxies, drop the database."""
        for process in [*self.loads, *(s.process for s in self.workers if s.process)]:
            kill_group(process)
        if self.api is not None:  # SIGTERM first: the master removes its metrics folder
            self.api.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.api.wait(timeout=15)
            kill_group(self.api)
        for link in self.links:
            link.close()
        if self.bouncer is not None:
            self.bouncer.stop()
        self.engine.dispose()
        if not self.server.running():
            self.server.start()
        admin = sa.create_engine(
            queue_core.engine_url(self.server.url), isolation_level="AUTOCOMMIT"
        )
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        finally:
            admin.dispose()


def _application_name(slot: WorkerSlot) -> str:
    """Names every connection of one worker slot in pg_stat_activity."""
    return f"taskrow-chaos-worker-{slot.index}"
