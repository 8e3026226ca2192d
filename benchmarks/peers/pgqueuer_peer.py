"""PgQueuer 1.6 beside taskrow, run from the benchmark venv (.venv-bench), never from taskrow's.

    python pgqueuer_peer.py prepare URL N  (schema installed afresh, N no-op jobs enqueued)
    python pgqueuer_peer.py drain URL N [PROCESSES [BATCH]]
                                  -> {"jobs": N, "seconds": s, "jobs_per_s": r, "cpu_s": c, ...}
    python pgqueuer_peer.py io URL N MS CONCURRENCY -> as drain, for jobs that await MS ms
    python pgqueuer_peer.py latency URL RATE SECS -> {"samples": n, "p50_ms": .., "p99_ms": ..}
    python pgqueuer_peer.py drain-one URL BATCH [MS CONCURRENCY]  (internal: one process)
    python pgqueuer_peer.py consume URL N         (internal: the latency consumer process)

``prepare`` installs PgQueuer's schema in the (fresh) database URL and enqueues N no-op jobs
in batches of 1,000; ``drain`` drains the N jobs queued there with PROCESSES processes
(default 1), each one QueueManager (asyncpg) in drain mode with ``batch_size`` BATCH (default
10, PgQueuer's own default). The rate counts from the first handler call in any process to the
end of the last process's ``run`` (its last acknowledgement written), on this machine's wall
clock; ``cpu_s`` is the user + system time of the draining processes, start-up included.

``io`` installs and enqueues like ``prepare``, then drains N jobs whose handler awaits
``asyncio.sleep(MS / 1000)`` in one process, up to CONCURRENCY at once
(``max_concurrent_tasks``), dequeued in batches of CONCURRENCY / 2 (the largest batch PgQueuer
accepts for that cap): the I/O-bound scenario's layout for PgQueuer.

``latency`` starts a consumer process with an idle QueueManager, then enqueues one job at a
time at RATE per second for SECS seconds from this process; the latency of a job is from the
return of its enqueue (committed) to the start of its handler, as taskrow's is measured.
"""

from __future__ import annotations

import asyncio
import json
import resource
import statistics
import subprocess
import sys
import time

import asyncpg
from pgqueuer import AsyncpgDriver, Job, Queries, QueueManager
from pgqueuer.types import QueueExecutionMode


async def install(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        queries = Queries(AsyncpgDriver(conn))
        if await queries.schema_is_installed():
            await queries.uninstall()
        await queries.install()
    finally:
        await conn.close()


async def enqueue_batches(url: str, n: int, entrypoint: str = "noop") -> None:
    conn = await asyncpg.connect(url)
    try:
        queries = Queries(AsyncpgDriver(conn))
        for start in range(0, n, 1000):
            size = min(1000, n - start)
            await queries.enqueue([entrypoint] * size, [None] * size, [0] * size)
    finally:
        await conn.close()


def prepare(url: str, n: int, entrypoint: str = "noop") -> None:
    asyncio.run(install(url))
    asyncio.run(enqueue_batches(url, n, entrypoint))


def drain(
    url: str, n: int, processes: int, batch: int, ms: float = 0.0, concurrency: int = 0
) -> dict[str, float]:
    """Drain the ``n`` jobs queued with ``processes`` processes started together."""
    command = [sys.executable, __file__, "drain-one", url, str(batch), str(ms), str(concurrency)]
    children = [
        subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(processes)
    ]
    runs = []
    for child in children:
        out, _ = child.communicate(timeout=600)
        if child.returncode != 0:
            raise SystemExit(f"a PgQueuer drain process exited with code {child.returncode}")
        runs.append(json.loads(out.strip().splitlines()[-1]))
    count = sum(int(r["jobs"]) for r in runs)
    if count < n:
        raise SystemExit(f"PgQueuer drained {count} of {n} jobs")
    cpu = round(sum(r["cpu_s"] for r in runs), 4)
    busy = [r for r in runs if r["jobs"]]
    if not busy:
        return {"jobs": 0, "processes": processes, "batch_size": batch, "cpu_s": cpu}
    seconds = max(r["ended"] for r in busy) - min(r["first"] for r in busy)
    return {
        "jobs": count,
        "processes": processes,
        "batch_size": batch,
        "seconds": round(seconds, 4),
        "jobs_per_s": round(count / seconds, 1),
        "cpu_s": cpu,
    }


async def drain_one(url: str, batch: int, ms: float, concurrency: int) -> dict[str, float]:
    """One draining process: its job count, first handler call and end of run (wall clock)."""
    conn = await asyncpg.connect(url)
    first: list[float] = []
    count = 0
    qm = QueueManager(Queries(AsyncpgDriver(conn)))

    @qm.entrypoint("io" if ms else "noop")
    async def handler(job: Job) -> None:
        nonlocal count
        if not first:
            first.append(time.time())
        if ms:
            await asyncio.sleep(ms / 1000)
        count += 1

    try:
        await qm.run(
            mode=QueueExecutionMode.drain,
            batch_size=batch,
            max_concurrent_tasks=concurrency or None,
        )
        ended = time.time()
    finally:
        await conn.close()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "jobs": count,
        "first": first[0] if first else ended,
        "ended": ended,
        "cpu_s": usage.ru_utime + usage.ru_stime,
    }


async def consume(url: str, n: int) -> None:
    """Run an idle worker; print "ready", then {job_id: handler start} once n jobs ran."""
    conn = await asyncpg.connect(url)
    started: dict[str, float] = {}
    qm = QueueManager(Queries(AsyncpgDriver(conn)))

    @qm.entrypoint("stamp")
    async def stamp(job: Job) -> None:
        started[str(job.id)] = time.time()
        if len(started) >= n:
            qm.shutdown.set()

    async def announce() -> None:
        await asyncio.sleep(1.0)
        print("ready", flush=True)

    ready = asyncio.create_task(announce())
    try:
        await qm.run(batch_size=10)
    finally:
        ready.cancel()
        await conn.close()
    print(json.dumps(started), flush=True)


async def produce(url: str, rate: float, seconds: float) -> dict[str, float]:
    await install(url)
    n = int(rate * seconds)
    consumer = subprocess.Popen(
        [sys.executable, __file__, "consume", url, str(n)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert consumer.stdout is not None
    if consumer.stdout.readline().strip() != "ready":
        raise SystemExit("the PgQueuer consumer did not start")
    conn = await asyncpg.connect(url)
    queries = Queries(AsyncpgDriver(conn))
    committed: dict[str, float] = {}
    begin = time.perf_counter()
    try:
        for i in range(n):
            delay = begin + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            [job_id] = await queries.enqueue("stamp", None)
            committed[str(job_id)] = time.time()
    finally:
        await conn.close()
    out, _ = consumer.communicate(timeout=60)
    started = json.loads(out.strip().splitlines()[-1])
    warmup = int(rate)  # the first second is left out, as for taskrow
    ms = sorted(
        (started[job] - t) * 1000 for job, t in list(committed.items())[warmup:] if job in started
    )
    return {
        "samples": len(ms),
        "p50_ms": round(statistics.median(ms), 3),
        "p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 3),
        "max_ms": round(ms[-1], 3),
    }


def main(argv: list[str]) -> None:
    mode, url = argv[0], argv[1]
    if mode == "prepare":
        prepare(url, int(argv[2]))
        print("{}")
    elif mode == "drain":
        processes = int(argv[3]) if len(argv) > 3 else 1
        batch = int(argv[4]) if len(argv) > 4 else 10
        print(json.dumps(drain(url, int(argv[2]), processes, batch)))
    elif mode == "drain-one":
        print(json.dumps(asyncio.run(drain_one(url, int(argv[2]), float(argv[3]), int(argv[4])))))
    elif mode == "io":
        n, ms, concurrency = int(argv[2]), float(argv[3]), int(argv[4])
        prepare(url, n, "io")
        batch = max(1, min(concurrency // 2, 1000))
        print(json.dumps(drain(url, n, 1, batch, ms, concurrency)))
    elif mode == "latency":
        print(json.dumps(asyncio.run(produce(url, float(argv[2]), float(argv[3])))))
    elif mode == "consume":
        asyncio.run(consume(url, int(argv[2])))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
