"""Waking the control thread: a self-pipe (safe to poke from threads and signal handlers), and
the LISTEN thread that pokes it when work arrives.

A ``threading.Event`` is not: its ``set()`` takes a lock that the main thread may hold at the
moment a signal handler runs (in that same thread), which deadlocks. Writing a byte to a
non-blocking pipe takes no Python lock.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
from collections.abc import Callable

import queue_core

from .config import WorkerConfig

LISTEN_WAIT_SECONDS = 1.0


class Waker:
    """``set()`` from anywhere; ``wait(timeout)`` from the control thread only."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        # Whether a byte may be pending: set() writes only when it is not, so a thousand
        # set() calls between two waits cost one write (and one wake-up), not a thousand.
        # wait() clears it only after draining the pipe: a set() that found it true came
        # before the clear, so its state (published before it) is read after wait() returns.
        self._armed = False

    def set(self) -> None:
        if self._armed:
            return
        self._armed = True
        with contextlib.suppress(BlockingIOError):  # a full pipe is already a wake-up
            os.write(self._write, b"!")

    def wait(self, timeout: float) -> None:
        """Return after ``timeout`` seconds, or sooner once ``set()`` was called; then reset.

        A ``set()`` that lands while this drains is consumed with the rest: callers publish
        their state before calling ``set()``, and the caller of ``wait()`` reads it afterwards.
        """
        select.select([self._read], [], [], max(0.0, timeout))
        with contextlib.suppress(BlockingIOError):
            while os.read(self._read, 4096):
                pass
        self._armed = False

    def close(self) -> None:
        os.close(self._read)
        os.close(self._write)


def start_listener(
    url: str, config: WorkerConfig, *, on_notify: Callable[[], None], stopped: Callable[[], bool]
) -> threading.Thread:
    """A daemon thread calling ``on_notify()`` for each notification on one of ``config.queues``,
    and after each (re-)connection, since notifications may have been missed meanwhile."""

    def listen() -> None:
        listener = queue_core.Listener(url, schema=config.schema)
        queues = set(config.queues)
        seen = 0
        while not stopped():
            names = listener.wait(LISTEN_WAIT_SECONDS)
            if queues.intersection(names) or listener.connections != seen:
                seen = listener.connections
                on_notify()
        listener.close()

    thread = threading.Thread(target=listen, name="taskrow-listen", daemon=True)
    thread.start()
    return thread
