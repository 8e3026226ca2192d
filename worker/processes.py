"""The process pool: each slot drives one child process, for isolation and hard timeouts.

A slot thread in the worker hands a task to its child and waits on the pipe. At the task's
timeout the child is killed (SIGKILL) and the attempt fails with ``TaskTimeout``; a child that
dies mid-task fails the attempt with ``WorkerProcessDied``. Either way the slot starts a fresh
child. Children are also recycled after ``max_tasks_per_child`` tasks or when their resident
memory passes ``max_memory_mb``. ``ctx.transaction()`` is not available in a child.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing
import queue
import threading
import time
from multiprocessing.context import ForkServerProcess
from typing import Any

import psutil
from sqlalchemy.engine import Engine

from queue_core import InvalidTaskError

from . import child, tracing
from .context import Flags
from .jobs import Job, OnDone
from .outcome import Failed, Outcome, escaped, timeout_failure
from .threads import ProgressWriter

logger = logging.getLogger(__name__)

FLAG_SYNC_SECONDS = 0.05


def _context(app: str) -> multiprocessing.context.ForkServerContext:
    """Children fork from a server that imported the app once: a fresh child costs a fork, not
    an interpreter start, and never inherits the worker's threads or database connections."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["worker.child", app.partition(":")[0]])
    return context


class SharedFlag:
    """One bit of a shared byte: an Event-like flag readable in a child without locks."""

    def __init__(self, cell: Any, bit: int) -> None:
        self._cell = cell
        self._bit = 1 << bit

    def is_set(self) -> bool:
        return bool(self._cell.value & self._bit)

    def set(self) -> None:
        self._cell.value |= self._bit

    def clear(self) -> None:
        self._cell.value &= ~self._bit


@dataclasses.dataclass(frozen=True)
class ChildLimits:
    """When to replace a child: after this many tasks, or above this resident memory."""

    max_tasks: int | None = None
    max_memory_mb: int | None = None


class _Child:
    """One child process, its pipe and its shared flags."""

    def __init__(self, app: str) -> None:
        context = _context(app)
        self.conn, child_end = context.Pipe()
        cell = context.RawValue("B", 0)
        self.flags = Flags(SharedFlag(cell, 0), SharedFlag(cell, 1), SharedFlag(cell, 2))
        self.process: ForkServerProcess = context.Process(
            target=child.main, args=(app, child_end, self.flags), daemon=True
        )
        self.process.start()
        child_end.close()
        self.tasks = 0
        self.ready = False

    def wait_ready(self) -> bool:
        """Wait for a new child to have imported the app; False if it died first."""
        while not self.ready:
            try:
                if self.conn.poll(FLAG_SYNC_SECONDS):
                    self.ready = self.conn.recv() == ("ready",)
                elif not self.process.is_alive():
                    return False
            except (EOFError, OSError):
                return False
        return True

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()

    def memory_mb(self) -> float:
        try:
            return psutil.Process(self.process.pid).memory_info().rss / 2**20
        except psutil.Error:
            return 0.0


class ProcessPool:
    """``size`` slots, each with its own child process (started on first use)."""

    queues_jobs = True

    def __init__(
        self,
        size: int,
        app: str,
        engine: Engine,
        on_done: OnDone,
        *,
        schema: str,
        limits: ChildLimits = ChildLimits(),
    ) -> None:
        self._size = size
        self._app = app
        self._engine = engine
        self._on_done = on_done
        self._schema = schema
        self._limits = limits
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._children: list[_Child | None] = [None] * size

    def start(self) -> None:
        for i in range(self._size):
            threading.Thread(
                target=self._serve, args=(i,), name=f"taskrow-proc-{i}", daemon=True
            ).start()

    def submit(self, job: Job) -> None:
        self._jobs.put(job)

    def close(self) -> None:
        """Kill every child: unfinished tasks were released (or their leases expire)."""
        for i, current in enumerate(self._children):
            if current is not None:
                current.kill()
                self._children[i] = None

    def _serve(self, slot: int) -> None:
        """Start a child before the first job and after each replacement, so it is warm.

        The slot's boundary: whatever escapes running a job (a progress message the queue
        refuses, a pipe broken under it, a child that cannot start) fails that attempt, charged,
        and the slot carries on with a fresh child; a job is never left without an outcome."""
        while True:
            self._warm(slot)
            job = self._jobs.get()
            if job is None:
                return
            current = self._children[slot]
            try:
                if current is None or not current.process.is_alive():  # died while idle
                    if current is not None:
                        current.kill()
                    current = self._children[slot] = _Child(self._app)
                with tracing.consumer(job) as span:
                    outcome, healthy = self._run(current, job)
                    tracing.record(span, outcome, job.last_attempt)
            except BaseException as exc:  # noqa: BLE001 - the slot's boundary
                kind = type(exc).__name__
                logger.error("slot.failed task_id=%s error_type=%s", job.task.id, kind)
                outcome, healthy = escaped(exc), False
            if current is not None and (not healthy or self._worn_out(current)):
                with contextlib.suppress(Exception):
                    current.kill()
                self._children[slot] = None
            self._on_done(job, outcome)

    def _warm(self, slot: int) -> None:
        if self._children[slot] is None:
            try:
                self._children[slot] = _Child(self._app)
            except Exception as exc:  # noqa: BLE001 - tried again when a job comes
                logger.error("slot.child_start_failed error=%s", exc)

    def _run(self, current: _Child, job: Job) -> tuple[Outcome, bool]:
        if not current.wait_ready():
            return self._died(current, job), False
        for flag in (current.flags.cancel_requested, current.flags.lease_lost):
            flag.clear()
        task = job.task
        refused = job.begin()  # the timeout counts from here, not from the claim
        if refused is not None:
            return refused, True
        try:
            current.conn.send((task.id, task.task, task.args, task.attempts))
        except OSError:  # it died between the check and the send
            return self._died(current, job), False
        current.tasks += 1
        progress = ProgressWriter(self._engine, job, schema=self._schema)
        while True:
            _copy_flags(job.flags, current.flags)
            deadline = job.deadline
            if deadline is not None and time.monotonic() >= deadline:
                logger.warning("task.killed task_id=%s reason=timeout", task.id)
                return timeout_failure(job.timeout or 0.0), False
            if not current.conn.poll(FLAG_SYNC_SECONDS):
                if not current.process.is_alive():
                    return self._died(current, job), False
                continue
            try:
                message: Any = current.conn.recv()
            except (EOFError, OSError):
                return self._died(current, job), False
            if message[0] == "done":
                return message[1], True
            try:
                cancel = progress(*message[1:])
            except InvalidTaskError as exc:  # the handler cannot be told: it is not waiting
                logger.warning("task.progress_refused task_id=%s error=%s", task.id, exc)
                cancel = False
            if cancel:
                job.flags.cancel_requested.set()

    def _died(self, current: _Child, job: Job) -> Failed:
        current.process.join(timeout=1)
        code = current.process.exitcode
        message = f"the child process running the task exited with code {code}"
        return Failed("WorkerProcessDied", message, None, retryable=True)

    def _worn_out(self, current: _Child) -> bool:
        limits = self._limits
        if limits.max_tasks is not None and current.tasks >= limits.max_tasks:
            return True
        return limits.max_memory_mb is not None and current.memory_mb() > limits.max_memory_mb


def _copy_flags(source: Flags, target: Flags) -> None:
    for name in ("cancel_requested", "lease_lost", "timed_out"):
        if getattr(source, name).is_set() and not getattr(target, name).is_set():
            getattr(target, name).set()
