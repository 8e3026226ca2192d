"""The control thread's wake-up pipe: a set() is never swallowed."""

from __future__ import annotations

import os
import time

import pytest

from worker.waker import Waker


def test_a_set_landing_during_the_drain_does_not_swallow_later_wake_ups(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A pool thread's set() can run while the control thread drains the pipe; replayed here
    at exactly that point (inside the drain's first read)."""
    waker = Waker()
    real_read = os.read
    raced: list[bool] = []

    def read_with_a_racing_set(fd: int, n: int) -> bytes:
        if not raced:
            raced.append(True)
            waker.set()
        return real_read(fd, n)

    try:
        waker.set()
        monkeypatch.setattr(os, "read", read_with_a_racing_set)
        waker.wait(0)
        monkeypatch.setattr(os, "read", real_read)
        assert raced
        waker.set()  # nothing else is running: the next wait must return at once
        started = time.monotonic()
        waker.wait(5.0)
        assert time.monotonic() - started < 2.5, "a set() was swallowed"
    finally:
        waker.close()


def test_wait_returns_after_the_timeout_without_a_set() -> None:
    waker = Waker()
    try:
        started = time.monotonic()
        waker.wait(0.05)
        assert time.monotonic() - started >= 0.04
    finally:
        waker.close()


def test_sets_between_two_waits_write_one_byte(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pool threads call set() once per finished task: between two waits only the first
    writes (a system call, and a wake-up of the control thread); after a wait, the next
    set() writes again."""
    waker = Waker()
    real_write = os.write
    writes: list[int] = []

    def counted(fd: int, data: bytes) -> int:
        writes.append(fd)
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", counted)
    try:
        for _ in range(1000):
            waker.set()
        assert len(writes) == 1
        waker.wait(0)
        waker.set()
        assert len(writes) == 2
        started = time.monotonic()
        waker.wait(5.0)
        assert time.monotonic() - started < 2.5, "the set() after a wait was swallowed"
    finally:
        waker.close()
