"""The body of a process-pool child: import the app, then run the tasks the parent sends.

Messages on the pipe: parent -> child ``(task_id, task, args, attempt)``; child -> parent
``("ready",)`` once the app is imported, then per task ``("progress", current, total,
message)`` and ``("done", outcome)``. The child never touches the database: the parent writes
progress and outcomes. The cancel and lease-lost flags are bits in shared memory.
"""

from __future__ import annotations

import os
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from .context import Flags, TaskContext
from .outcome import Outcome, escaped, run_handler, unknown_task
from .registry import load_app

PARENT_CHECK_SECONDS = 0.5


def main(app: str, conn: Connection, flags: Flags) -> None:
    """Serve tasks until the parent closes the pipe or dies."""
    registry = load_app(app)
    parent = os.getppid()
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    conn.send(("ready",))
    while True:
        try:
            task_id, name, args, attempt = conn.recv()
        except (EOFError, OSError):
            return
        spec = registry.tasks.get(name)
        outcome: Outcome
        if spec is None:
            outcome = unknown_task(name, registry.tasks)
        else:
            ctx = TaskContext(task_id, name, attempt, flags=flags, progress_sink=_Progress(conn))
            try:
                outcome = run_handler(spec, args, ctx)
            except BaseException as exc:  # noqa: BLE001 - SystemExit & co. fail the attempt
                outcome = escaped(exc)
        conn.send(("done", outcome))


class _Progress:
    """Progress goes to the parent, which writes it; the cancel flag is read locally."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def __call__(self, current: int | None, total: int | None, message: str | None) -> bool:
        self._conn.send(("progress", current, total, message))
        return False


def _exit_with_parent(parent: int) -> Any:
    """A child whose worker is gone (killed at once) must not run on alone."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(1)
