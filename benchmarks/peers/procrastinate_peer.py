"""procrastinate 3 beside taskrow, run from the benchmark venv (.venv-bench), never from taskrow's.

    python procrastinate_peer.py drain URL N [PROCESSES [CONCURRENCY]]
                                  -> {"jobs": N, "seconds": s, "jobs_per_s": r, ...}
    python procrastinate_peer.py drain-one URL CONCURRENCY   (internal: one draining process)

``drain`` applies procrastinate's schema to the (fresh) database URL, defers N no-op jobs in
batches of 1,000 (``batch_defer_async``) and drains them with PROCESSES processes (default 1),
each running one worker (``run_worker_async(wait=False)``: it exits once the queue is empty)
with CONCURRENCY (default 1, procrastinate's own default). The rate counts from the first
handler call in any process to the end of the last process's worker run (wall clock), as for
PgQueuer.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

import procrastinate

QUEUE = "bench"
state = {"count": 0, "first": 0.0}


def make_app(url: str) -> procrastinate.App:
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url))

    @app.task(name="noop", queue=QUEUE)
    async def noop() -> None:
        if not state["count"]:
            state["first"] = time.time()
        state["count"] += 1

    return app


async def prepare(url: str, n: int) -> None:
    app = make_app(url)
    async with app.open_async():
        await app.schema_manager.apply_schema_async()
        task = app.tasks["noop"]
        for start in range(0, n, 1000):
            await task.batch_defer_async(*([{}] * min(1000, n - start)))


def drain(url: str, n: int, processes: int, concurrency: int) -> dict[str, float]:
    asyncio.run(prepare(url, n))
    command = [sys.executable, __file__, "drain-one", url, str(concurrency)]
    children = [
        subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(processes)
    ]
    runs = []
    for child in children:
        out, _ = child.communicate(timeout=1800)
        if child.returncode != 0:
            raise SystemExit(f"a procrastinate drain process exited with code {child.returncode}")
        runs.append(json.loads(out.strip().splitlines()[-1]))
    count = sum(int(r["jobs"]) for r in runs)
    if count < n:
        raise SystemExit(f"procrastinate drained {count} of {n} jobs")
    busy = [r for r in runs if r["jobs"]]
    seconds = max(r["ended"] for r in busy) - min(r["first"] for r in busy)
    return {
        "jobs": count,
        "processes": processes,
        "concurrency": concurrency,
        "seconds": round(seconds, 4),
        "jobs_per_s": round(count / seconds, 1),
    }


async def drain_one(url: str, concurrency: int) -> dict[str, float]:
    app = make_app(url)
    async with app.open_async():
        await app.run_worker_async(
            queues=[QUEUE],
            concurrency=concurrency,
            wait=False,
            install_signal_handlers=False,
            delete_jobs="never",
        )
    ended = time.time()
    return {"jobs": state["count"], "first": state["first"] or ended, "ended": ended}


def main(argv: list[str]) -> None:
    mode, url = argv[0], argv[1]
    if mode == "drain":
        processes = int(argv[3]) if len(argv) > 3 else 1
        concurrency = int(argv[4]) if len(argv) > 4 else 1
        print(json.dumps(drain(url, int(argv[2]), processes, concurrency)))
    elif mode == "drain-one":
        print(json.dumps(asyncio.run(drain_one(url, int(argv[2])))))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
