"""The yardsticks: PgQueuer and the RQ endpoint (from the benchmark venv) and the raw-SQL
ceiling (``ceiling.sh`` with pgbench).

Peers never become dependencies of taskrow: ``.venv-bench/`` beside the project is created on
first use and the peer scripts in ``benchmarks/peers/`` run in subprocesses of it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from ..embedded import EmbeddedPostgresError, binaries
from .drain import Layout
from .procs import BenchError
from .server import libpq_env, plain_url

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"
PEERS = BENCHMARKS / "peers"
VENV = ROOT / ".venv-bench"
PEER_PACKAGES = [
    "pgqueuer==1.6.*",
    "asyncpg",
    "procrastinate==3.*",
    "rq",
    "redis",
    "flask",
    "gunicorn",
    "granian>=2.8,<3",
]
CHECK = "import pgqueuer, asyncpg, procrastinate, rq, redis, flask, gunicorn, granian"
PGQUEUER_DEFAULT = Layout(1, 10)  # one QueueManager process, batch_size 10 (its default)
PROCRASTINATE_DEFAULT = Layout(1, 1)  # one worker process, concurrency 1 (its default)


def venv_python() -> Path:
    """The benchmark venv's python, creating the venv and installing the peers if needed."""
    python = VENV / "bin" / "python"
    if python.exists() and _run_ok([str(python), "-c", CHECK]):
        return python
    if not python.exists():
        _must([sys.executable, "-m", "venv", str(VENV)], "creating .venv-bench")
    _must(
        [str(python), "-m", "pip", "install", "--quiet", *PEER_PACKAGES],
        "installing the peers into .venv-bench",
    )
    return python


def pgqueuer(mode: str, url: str, *args: object, timeout: float = 600) -> dict[str, float]:
    """Run the PgQueuer peer script in ``mode``; returns its JSON figures."""
    return _peer("pgqueuer_peer.py", f"PgQueuer {mode}", mode, url, *args, timeout=timeout)


def procrastinate(url: str, n: int, layout: Layout) -> dict[str, float]:
    """Drain ``n`` no-op jobs with procrastinate at ``layout`` (processes x concurrency)."""
    args = (n, layout.processes, layout.threads)
    return _peer("procrastinate_peer.py", "procrastinate drain", "drain", url, *args, timeout=1800)


def _peer(
    script: str, what: str, mode: str, url: str, *args: object, timeout: float
) -> dict[str, float]:
    command = [str(venv_python()), str(PEERS / script), mode, plain_url(url)]
    out = _must([*command, *map(str, args)], what, timeout=timeout)
    figures: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return figures


CEILING = Path(__file__).resolve().parent / "ceiling"
"""``ceiling.sh`` and its SQL scripts, shipped inside the package (so in the wheel too)."""


def ceiling_folder() -> Path:
    """The folder of ceiling.sh: TASKROW_BENCH_CEILING_DIR (another copy), else the shipped one."""
    folder = Path(os.environ.get("TASKROW_BENCH_CEILING_DIR", CEILING))
    if not (folder / "ceiling.sh").exists():
        raise BenchError(f"ceiling.sh not found in {folder} (set TASKROW_BENCH_CEILING_DIR)")
    return folder


def pg_tools_env(url: str) -> dict[str, str]:
    """The environment for psql/pgbench against ``url``: PG* variables, tools on PATH."""
    path = os.environ.get("PATH", "")
    if shutil.which("pgbench") is None:
        try:
            path = f"{binaries()}{os.pathsep}{path}"
        except EmbeddedPostgresError as exc:
            raise BenchError(
                "pgbench is needed for the ceiling: install postgresql-client"
            ) from exc
    return {**os.environ, **libpq_env(url), "PATH": path}


def ceiling(url: str, clients: int = 4) -> dict[str, int]:
    """Run ceiling.sh as it is, from its folder, on the database ``url``; its lines as figures."""
    folder = ceiling_folder()
    out = _must(
        ["bash", "ceiling.sh", str(clients)],
        "ceiling.sh",
        cwd=folder,
        env=pg_tools_env(url),
        timeout=900,
    )
    figures = {}
    for line in out.splitlines():
        match = re.fullmatch(r"(\w+) (\d+)", line.strip())
        if match:
            figures[match[1]] = int(match[2])
    return figures


def insert_ceiling(url: str, *, batch: bool, seconds: int = 5, clients: int = 4) -> int:
    """Rows/s that pgbench inserts on ceiling.sh's table: ceiling_batch_enqueue.sql (50 rows a
    statement) when ``batch``, else ceiling_enqueue.sql (one row a transaction)."""
    folder = ceiling_folder()
    env = pg_tools_env(url)
    _must(["psql", "-q", "-f", "ceiling_schema.sql"], "psql", cwd=folder, env=env)
    script = "ceiling_batch_enqueue.sql" if batch else "ceiling_enqueue.sql"
    command = ["pgbench", "-n", "-M", "simple", "-f", script]
    command += ["-c", str(clients), "-j", "2", "-T", str(seconds)]
    out = _must(command, "pgbench", cwd=folder, env=env, timeout=seconds + 120)
    match = re.search(r"^tps = ([0-9.]+)", out, re.MULTILINE)
    if match is None:
        raise BenchError(f"pgbench printed no tps: {out[-300:]}")
    return int(float(match[1]) * (50 if batch else 1))


def _run_ok(command: list[str]) -> bool:
    return subprocess.run(command, capture_output=True, check=False).returncode == 0


def _must(
    command: list[str],
    what: str,
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 600,
) -> str:
    result = subprocess.run(
        command, capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout, check=False
    )
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise BenchError(f"{what} failed ({result.returncode}): {' | '.join(tail)}")
    return result.stdout
