"""Processes a benchmark starts: workers, servers and load generators, always stopped after."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from typing import IO

APP = "taskrow.bench.app"
_stderr: dict[int, IO[bytes]] = {}  # pid -> its stderr, kept (off the terminal) for errors


class BenchError(RuntimeError):
    """A benchmark could not run (a process failed, a tool is missing); the message says why."""


def wait_until(
    condition: Callable[[], bool],
    timeout: float,
    what: str,
    every: float = 0.05,
    *,
    watch: Sequence[subprocess.Popen[bytes]] = (),
) -> None:
    """Poll ``condition`` until true; fail when ``timeout`` passes or a watched process died."""
    deadline = time.monotonic() + timeout
    while not condition():
        check_alive(watch, "a benchmark process")
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def worker_command(
    concurrency: int, *, burst: bool, queues: str = "default", app: str = APP
) -> list[str]:
    command = [sys.executable, "-m", "taskrow.cli", "worker", "--app", app, "--queues", queues]
    command += ["--concurrency", str(concurrency), "--grace", "5"]
    return [*command, "--burst"] if burst else command


@contextlib.contextmanager
def running(
    commands: Sequence[Sequence[str]], env: dict[str, str] | None = None
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Start each command (output discarded); on exit, SIGTERM then SIGKILL what still runs."""
    full_env = {**os.environ, **(env or {})}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for command in commands:
            errors = tempfile.TemporaryFile()  # noqa: SIM115 (closed with the process)
            proc = subprocess.Popen(
                list(command),
                env=full_env,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                start_new_session=True,
            )
            _stderr[proc.pid] = errors
            procs.append(proc)
        yield procs
    finally:
        for proc in procs:
            stop(proc)
            _stderr.pop(proc.pid).close()


def stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def check_alive(procs: Sequence[subprocess.Popen[bytes]], what: str) -> None:
    """Raise when one of ``procs`` exited with an error, with the last line it wrote."""
    for proc in procs:
        code = proc.poll()
        if code not in (None, 0):
            raise BenchError(f"{what} exited with code {code}: {last_error_line(proc)}")


def last_error_line(proc: subprocess.Popen[bytes]) -> str:
    errors = _stderr.get(proc.pid)
    if errors is None:
        return ""
    errors.seek(0, os.SEEK_END)
    errors.seek(max(0, errors.tell() - 4000))
    lines = errors.read().decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else ""
