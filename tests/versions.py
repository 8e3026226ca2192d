"""``make test-versions``: the core and worker tests on each PostgreSQL given by its bin folder.

``python -m tests.versions BIN_DIR [BIN_DIR ...] [-- PYTEST_ARGS]`` starts a server from each
folder's ``initdb``/``pg_ctl``/``postgres`` (as the embedded server is started: a temporary data
folder, a free port on 127.0.0.1, the service user when run as root), runs pytest against it
through ``TASKROW_TEST_DATABASE_URL``, stops it, and prints one line per version. Folders that
do not exist are skipped (a glob that matched nothing). Exit status 1 if any run failed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from taskrow.embedded import EmbeddedPostgres, reachable

DEFAULT_TESTS = ["tests/core", "tests/worker", "-q", "-p", "no:cacheprovider"]


def version_of(bin_dir: Path) -> str:
    done = subprocess.run(
        [str(bin_dir / "postgres"), "--version"], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def run_one(bin_dir: Path, pytest_args: list[str]) -> tuple[str, int, float]:
    folder = Path(tempfile.mkdtemp(prefix="taskrow-pg-version-"))
    server = EmbeddedPostgres(folder / "data")
    server.bin = reachable(bin_dir.resolve())  # from a 0700 checkout, a mirror (as root)
    started = time.monotonic()
    server.start()
    try:
        env = {**os.environ, "TASKROW_TEST_DATABASE_URL": server.url}
        print(f"== {version_of(bin_dir)} ({bin_dir}) at {server.url} ==", flush=True)
        code = subprocess.call([sys.executable, "-m", "pytest", *pytest_args], env=env)
    finally:
        server.stop(mode="immediate")
        shutil.rmtree(folder, ignore_errors=True)
    return version_of(bin_dir), code, time.monotonic() - started


def main(argv: list[str]) -> int:
    split = argv.index("--") if "--" in argv else len(argv)
    dirs, rest = argv[:split], argv[split + 1 :]
    found = [Path(d) for d in dirs if (Path(d) / "postgres").exists()]
    if not found:
        print("no PostgreSQL bin folder found among: " + " ".join(dirs), file=sys.stderr)
        return 1
    results = [run_one(d, rest or DEFAULT_TESTS) for d in found]
    print("\nPostgreSQL versions:")
    for version, code, seconds in results:
        print(f"  {version:<28} {'passed' if code == 0 else 'FAILED'}  ({seconds:.0f} s)")
    return 0 if all(code == 0 for _, code, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
