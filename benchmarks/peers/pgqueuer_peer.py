"""PgQueuer 1.6 beside taskrow, run from the benchmark venv (.venv-bench), never from taskrow's.

    python pgqueuer_peer.py drain URL N           -> {"jobs": N, "seconds": s, "jobs_per_s": r}
    python pgqueuer_peer.py io URL N MS CONCURRENCY -> the same, for jobs that await MS ms
    python pgqueuer_peer.py latency URL RATE SECS -> {"samples": n, "p50_ms": .., "p99_ms": ..}
    python pgqueuer_peer.py consume URL N         (internal: the latency consumer process)

``drain`` installs PgQueuer's schema in the (fresh) database URL, enqueues N no-op jobs in
batches of 1,000 and drains them with one QueueManager (asyncpg, batch_size 10, the defaults)
in drain mode. The rate counts from the first handler call to the end of ``run`` (the last
acknowledgement written), as taskrow's counts from its first claim to its last acknowledgement.

``io`` drains N jobs whose handler awaits ``asyncio.sleep(MS / 1000)``, up to CONCURRENCY at
once (``max_concurrent_tasks``), dequeued in batches of CONCURRENCY / 2 (the largest batch
PgQueuer accepts for that cap): the I/O-bound scenario's layout for PgQueuer.

``latency`` starts a consumer process with an idle QueueManager, then enqueues one job at a
time at RATE per second for SECS seconds from this process; the latency of a job is from the
return of its enqueue (committed) to the start of its handler, as taskrow's is measured.
"""

from __future__ import annotations

import asyncio
import json
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


async def drain(url: str, n: int, ms: float = 0.0, concurrency: int = 0) -> dict[str, float]:
    entrypoint = "io" if ms else "noop"
    await install(url)
    await enqueue_batches(url, n, entrypoint)
    conn = await asyncpg.connect(url)
    first: list[float] = []
    count = 0
    qm = QueueManager(Queries(AsyncpgDriver(conn)))

    @qm.entrypoint(entrypoint)
    async def handler(job: Job) -> None:
        nonlocal count
        if not first:
            first.append(time.perf_counter())
        if ms:
            await asyncio.sleep(ms / 1000)
        count += 1

    batch = max(1, min(concurrency // 2, 1000)) if concurrency else 10
    try:
        await qm.run(
            mode=QueueExecutionMode.drain,
            batch_size=batch,
            max_concurrent_tasks=concurrency or None,
        )
        ended = time.perf_counter()
    finally:
        await conn.close()
    seconds = ended - first[0]
    return {"jobs": count, "seconds": round(seconds, 4), "jobs_per_s": round(count / seconds, 1)}


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
    if mode == "drain":
        print(json.dumps(asyncio.run(drain(url, int(argv[2])))))
    elif mode == "io":
        figures = drain(url, int(argv[2]), float(argv[3]), int(argv[4]))
        print(json.dumps(asyncio.run(figures)))
    elif mode == "latency":
        print(json.dumps(asyncio.run(produce(url, float(argv[2]), float(argv[3])))))
    elif mode == "consume":
        asyncio.run(consume(url, int(argv[2])))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
