"""`taskrow dev` as a new user runs it: the whole system up, a task through HTTP, a clean stop."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import psutil

from taskrow.embedded import free_port

from ..support import wait_for


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


def test_dev_runs_the_whole_system_and_stops_cleanly(tmp_path: Path) -> None:
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
            wait_for(lambda p=process: _gone(p), timeout=10, what=f"{process.pid} to exit")
    finally:
        if dev.poll() is None:
            dev.kill()
        log.close()
