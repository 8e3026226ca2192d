"""docs/api.md's walk-through, run as written: its `taskrow` and `curl` commands against a real
`taskrow api` and a real `taskrow worker` running the README's `send_email` handler."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from ..api.conftest import running_server
from ..support import wait_for
from ..worker.conftest import ROOT, WorkerProcess

pytestmark = pytest.mark.slow  # end to end: gunicorn and a worker process

DOC = ROOT / "docs" / "api.md"
TIMEOUT = 60


def section(title: str) -> str:
    text = DOC.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def sh_blocks(text: str) -> list[list[str]]:
    """The commands of each ```sh block (continuation lines joined, comments dropped)."""
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    commands = []
    for block in blocks:
        joined = block.replace("\\\n", " ")
        lines = [line.split("  #")[0].strip() for line in joined.splitlines()]
        commands.append([line for line in lines if line and not line.startswith("#")])
    return commands


def curl(command: str, base: str, variables: dict[str, str]) -> requests.Response:
    """Run one of the doc's curl commands with requests (-X, -H, -d, -L; -s and -i are how
    curl prints, nothing else)."""
    for name, value in variables.items():
        command = command.replace(f"${name}", value)
    words = shlex.split(command)
    assert words[0] == "curl", command
    method, url, headers, data, follow = "GET", "", {}, None, False
    rest = iter(words[1:])
    for word in rest:
        if word == "-X":
            method = next(rest)
        elif word == "-H":
            name, _, value = next(rest).partition(": ")
            headers[name] = value
        elif word == "-d":
            data, method = next(rest), method if method != "GET" else "POST"
        elif word.startswith("-"):
            assert set(word[1:]) <= set("siL"), f"an option this runner does not know: {word}"
            follow = follow or "L" in word
        else:
            url = base + word.removeprefix("localhost:8000")
    return requests.request(
        method, url, headers=headers, data=data, allow_redirects=follow, timeout=30
    )


def taskrow(command: str, env: dict[str, str]) -> str:
    words = shlex.split(command)
    assert words[0] == "taskrow", command
    result = subprocess.run(
        [sys.executable, "-m", "taskrow.cli", *words[1:]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_walkthrough_runs_as_written(empty_db_url: str, tmp_path: Path) -> None:
    env = {"TASKROW_DATABASE_URL": empty_db_url, "PATH": ""}
    [serving] = sh_blocks(section("Serving it"))
    migrate, create_key, serve = serving
    taskrow(migrate, env)
    key = taskrow(create_key, env).strip()
    assert serve.startswith("taskrow api")  # served below on a free port instead of 8000
    walk = sh_blocks(section("Walk-through"))
    assert walk[0][0].startswith("KEY=") and walk[1][0].startswith("ID=")
    worker = WorkerProcess(
        empty_db_url,
        tmp_path / "worker.log",
        [
            "--app",
            "tests.e2e.readme_tasks",
            "--queues",
            "emails",
            "--poll-only",
            "--poll-interval",
            "0.1",
        ],
    )
    try:
        with running_server(empty_db_url, tmp_path) as server:
            variables = {"KEY": key}
            accepted = curl(walk[0][1], server.base, variables)
            assert accepted.status_code == 202, accepted.text
            record: dict[str, Any] = accepted.json()
            assert record["queue"] == "emails" and record["state"] == "queued"
            variables["ID"] = record["id"]
            poll, later, result, follow = walk[1][1:]
            assert curl(poll, server.base, variables).status_code in (200, 303)
            wait_for(
                lambda: curl(later, server.base, variables).status_code == 303,
                timeout=TIMEOUT,
                what="the task to succeed (303 to its result)",
            )
            done = curl(result, server.base, variables)
            assert done.status_code == 200 and done.json()["result"] == {"message_id": "m-1"}
            followed = curl(follow, server.base, variables)
            assert followed.status_code == 200 and followed.json()["state"] == "succeeded"
    finally:
        worker.kill()
