"""The install story of docs/install.md, run for real: the systemd units' and the container's
commands start taskrow against a real Postgres, and the unit files pass systemd's checker.

Docker cannot run on the machines these tests run on, so the image is not built: the
Dockerfile's CMD and HEALTHCHECK are run outside a container, with the image's ENV.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from taskrow.embedded import free_port

from ..support import wait_for

pytestmark = pytest.mark.slow  # builds and installs the wheel

ROOT = Path(__file__).resolve().parents[2]
SYSTEMD = ROOT / "examples/systemd"
DOCKERFILE = ROOT / "examples/container/Dockerfile"
TASKROW = Path(sys.executable).with_name("taskrow")
#: What a reader replaces in the examples: the venv's path and the handlers' module.
UNIT_VENV = "/srv/myapp/venv/bin/taskrow"
UNIT_APP = "myapp.tasks:registry"


def _service_section(unit: Path) -> tuple[list[str], dict[str, str]]:
    """ExecStart's words and the Environment= assignments of a unit's [Service] section."""
    section, command, env = "", "", {}
    for raw in unit.read_text().splitlines():
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif section == "Service" and "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            if key == "ExecStart":
                command = value
            elif key == "Environment":
                for assignment in shlex.split(value):
                    name, _, setting = assignment.partition("=")
                    env[name] = setting
    assert command, f"{unit.name} has no ExecStart"
    return shlex.split(command), env


def _local(words: list[str], port: int) -> list[str]:
    """The example's command with this machine's taskrow, the example handlers and a free
    port in place of the reader's paths."""
    replaced = []
    for word in words:
        word = str(TASKROW) if word in (UNIT_VENV, "taskrow") else word
        word = "taskrow.examples:registry" if word == UNIT_APP else word
        replaced.append(re.sub(r"^(127\.0\.0\.1|0\.0\.0\.0):8000$", f"127.0.0.1:{port}", word))
    return replaced


def _env(db_url: str, extra: dict[str, str]) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TASKROW_")}
    base.pop("DATABASE_URL", None)
    return {**base, **extra, "TASKROW_DATABASE_URL": db_url}


def _readyz_ok(port: int, probe: list[str] | None = None) -> bool:
    command = probe or [
        sys.executable,
        "-c",
        "import urllib.request; "
        f"urllib.request.urlopen('http://127.0.0.1:{port}/readyz', timeout=2)",
    ]
    return subprocess.run(command, capture_output=True, check=False, timeout=30).returncode == 0


class Started:
    def __init__(self, command: list[str], env: dict[str, str], cwd: Path) -> None:
        self.log = cwd / "service.log"
        self._out = self.log.open("w")
        self.process = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=self._out, stderr=subprocess.STDOUT
        )

    def alive(self) -> bool:
        """True while running; an exit is a failure showing the command's output."""
        if self.process.poll() is not None:
            raise AssertionError(f"exited with {self.process.returncode}: {self.log.read_text()}")
        return True

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._out.close()


def test_the_api_unit_starts_and_answers_readyz(db_url: str, tmp_path: Path) -> None:
    words, env = _service_section(SYSTEMD / "taskrow-api.service")
    assert words[0] == UNIT_VENV and words[1] == "api"
    port = free_port()
    service = Started(_local(words, port), _env(db_url, env), tmp_path)
    try:
        wait_for(
            lambda: service.alive() and _readyz_ok(port),
            timeout=60,
            interval=0.3,
            what="the API unit's /readyz",
        )
        assert service.stop() == 0
    finally:
        service.close()


def test_the_worker_unit_starts_and_stops_gracefully(db_url: str, tmp_path: Path) -> None:
    unit = SYSTEMD / "taskrow-worker@.service"
    words, env = _service_section(unit)
    assert words[:2] == [UNIT_VENV, "worker"] and UNIT_APP in words
    service = Started(_local(words, free_port()), _env(db_url, env), tmp_path)
    try:
        wait_for(
            lambda: service.alive() and "worker.started" in service.log.read_text(),
            timeout=60,
            interval=0.2,
            what="the worker unit's start line",
        )
        code = service.stop()
        success = re.search(r"^SuccessExitStatus=(.*)$", unit.read_text(), re.MULTILINE)
        assert code == 0 or (success is not None and str(code) in success.group(1).split())
    finally:
        service.close()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
@pytest.mark.parametrize("name", ["taskrow-api.service", "taskrow-worker@.service"])
def test_the_unit_files_pass_systemd_analyze_verify(name: str, tmp_path: Path) -> None:
    """systemd's own checker; ExecStart must name an existing program, so it names this one."""
    text = (SYSTEMD / name).read_text().replace(UNIT_VENV, str(TASKROW))
    unit = tmp_path / name.replace("@.", "@1.")
    unit.write_text(text)
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert str(unit) not in result.stderr, result.stderr  # no warning about this unit


def _dockerfile() -> tuple[list[str], list[str], dict[str, str]]:
    """The CMD, the HEALTHCHECK's command and the ENV of the image's last stage."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    last = text[text.rindex("\nFROM ") :]
    cmd: list[str] = []
    health: list[str] = []
    env: dict[str, str] = {}
    for line in last.splitlines():
        if line.startswith("CMD "):
            cmd = json.loads(line[4:])
        elif line.startswith("HEALTHCHECK "):
            health = json.loads(line[line.index(" CMD ") + 5 :])
        elif line.startswith("ENV "):
            for assignment in shlex.split(line[4:]):
                name, _, value = assignment.partition("=")
                env[name] = value
    return cmd, health, env


def test_the_container_cmd_serves_the_api_and_its_healthcheck_passes(
    db_url: str, tmp_path: Path
) -> None:
    cmd, health, env = _dockerfile()
    assert cmd[:2] == ["taskrow", "api"] and health[0] == "python"
    port = free_port()
    probe = [sys.executable, *[w.replace(":8000/", f":{port}/") for w in health[1:]]]
    assert f":{port}/readyz" in " ".join(probe)
    assert not _readyz_ok(port, probe)  # the probe fails while nothing serves
    service = Started(_local(cmd, port), _env(db_url, env), tmp_path)
    try:
        wait_for(
            lambda: service.alive() and _readyz_ok(port, probe),
            timeout=60,
            interval=0.3,
            what="the container's HEALTHCHECK to pass",
        )
        assert service.stop() == 0  # STOPSIGNAL SIGTERM: a graceful stop
    finally:
        service.close()


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="not a git checkout")
def test_pip_installs_from_a_git_url_and_the_command_migrates(
    empty_db_url: str, tmp_path: Path
) -> None:
    """`pip install git+URL` into a fresh venv (the committed tree of this
    checkout, by a file:// URL), then `taskrow --help` and `taskrow migrate` from it."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # Dependencies from the test environment (a plain path entry: its .pth files, among them
    # the editable install of this tree, are not processed), so nothing is downloaded.
    site = Path(sysconfig.get_paths()["purelib"])
    [venv_site] = venv.glob("lib/python*/site-packages")
    (venv_site / "deps.pth").write_text(f"{site}\n")
    pip = [str(venv / "bin/python"), "-m", "pip", "install", "-q", "--no-deps"]
    subprocess.run(
        [*pip, "--no-build-isolation", f"git+file://{ROOT}"],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    env = _env(empty_db_url, {})
    where = subprocess.run(
        [str(venv / "bin/python"), "-c", "import taskrow; print(taskrow.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env=env,
    ).stdout
    assert where.startswith(str(venv_site))
    usage = subprocess.run([str(venv / "bin/taskrow"), "--help"], capture_output=True, text=True)
    assert usage.returncode == 0 and "migrate" in usage.stdout
    migrated = subprocess.run(
        [str(venv / "bin/taskrow"), "migrate"], capture_output=True, text=True, env=env
    )
    assert migrated.returncode == 0, migrated.stderr
    assert "schema taskrow is at revision" in migrated.stdout
