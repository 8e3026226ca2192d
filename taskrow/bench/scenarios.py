"""Each scenario as a function of its options, returning a :class:`Report`.

Medians of ``repeat`` runs where a run is cheap; the peers and the ceiling run in the same
invocation, on the same server, so that ratios compare like with like.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import bulk, drain, history, http, latency, memory, peers, procs
from .report import Report, median, ratio
from .server import database

#: The handlers of the async scenarios (async-drain, async-latency, io-bound).
ASYNC_APP = "taskrow.bench.aio_app"


@dataclass(frozen=True)
class Options:
    """The command line's options, read by the scenarios that use them; ``tasks`` None means
    the scenario's own default size."""

    server_url: str
    schema: str
    tasks: int | None
    repeat: int
    compare: bool
    layouts: tuple[drain.Layout, ...]
    batch: int
    writers: int
    rate: float
    seconds: int
    connections: int
    http_workers: int
    finished: int
    future: int
    threads: int
    rq: bool
    async_commit: bool

    def n(self, default: int) -> int:
        return self.tasks if self.tasks is not None else default


def run_drain(o: Options) -> Report:
    report = Report("drain")
    n = o.n(20_000)
    best: float | None = None
    for layout in o.layouts:
        rates = [
            drain.drain_once(o.server_url, n, layout, schema=o.schema) for _ in range(o.repeat)
        ]
        rate = round(median(rates), 1)
        report.add(
            f"taskrow_{layout}_tasks_per_s",
            f"taskrow {layout} (processes x threads)",
            rate,
            "tasks/s",
        )
        best = rate if best is None else max(best, rate)
    report.add("taskrow_best_tasks_per_s", "taskrow, best layout", best, "tasks/s")
    report.figures["tasks"] = n
    if o.compare:
        _compare_drain(o, report, n, best)
    return report


def _compare_drain(o: Options, report: Report, n: int, best: float | None) -> None:
    runs = [
        peers.pgqueuer("drain", database(o.server_url, "pgqueuer_bench"), n)
        for _ in range(o.repeat)
    ]
    pgq = round(median([r["jobs_per_s"] for r in runs]), 1)
    report.add("pgqueuer_jobs_per_s", "PgQueuer 1.6 (1 process, batch 10)", pgq, "jobs/s")
    ceiling = peers.ceiling(database(o.server_url, "taskrow_bench_ceiling"))
    for key, value in ceiling.items():
        report.add(f"ceiling_{key}", f"ceiling {key}", value)
    fused = ceiling.get("fused_batch50_async_commit_tasks_per_s")
    report.add("ratio_to_pgqueuer", "taskrow / PgQueuer (target >= 3)", ratio(best, pgq), "x")
    report.add(
        "ratio_to_fused_async_ceiling",
        "taskrow / fused async-commit ceiling (target >= 0.3)",
        ratio(best, fused),
        "x",
    )


def run_bulk(o: Options) -> Report:
    report = Report("enqueue-bulk")
    n = o.n(100_000)
    full, ids, parallel = [], [], []
    for _ in range(o.repeat):  # interleaved, so drift on a shared machine hits all alike
        full.append(bulk.bulk_once(o.server_url, n, o.batch, schema=o.schema))
        ids.append(bulk.bulk_once(o.server_url, n, o.batch, schema=o.schema, ids_only=True))
        parallel.append(
            bulk.bulk_once(
                o.server_url, n, o.batch, schema=o.schema, ids_only=True, writers=o.writers
            )
        )
    report.add(
        "taskrow_rows_per_s",
        f"enqueue_many, batches of {o.batch}, 1 connection",
        round(median(full), 1),
        "rows/s",
    )
    report.add(
        "taskrow_ids_rows_per_s",
        f"enqueue_many_ids, batches of {o.batch}, 1 connection",
        round(median(ids), 1),
        "rows/s",
    )
    rate = round(median(parallel), 1)
    report.add(
        "taskrow_ids_parallel_rows_per_s",
        f"enqueue_many_ids, batches of {o.batch}, {o.writers} connections",
        rate,
        "rows/s",
    )
    report.figures.update(tasks=n, batch=o.batch, writers=o.writers)
    if o.compare:
        url = database(o.server_url, "taskrow_bench_ceiling")
        ceiling = peers.insert_ceiling(url, batch=True)
        report.add(
            "ceiling_batch_insert_rows_per_s",
            "pgbench batch insert (50/stmt, 4 clients)",
            ceiling,
            "rows/s",
        )
        report.add(
            "ratio_to_batch_insert_ceiling",
            f"taskrow (ids, {o.writers} connections) / batch-insert ceiling (target >= 0.5)",
            ratio(rate, ceiling),
            "x",
        )
    return report


def run_latency(o: Options) -> Report:
    return _latency_report(o, Report("latency"), procs.APP)


def run_async_latency(o: Options) -> Report:
    """``latency`` with an ``async def`` handler on the worker's event loop."""
    return _latency_report(o, Report("async-latency"), ASYNC_APP)


def _latency_report(o: Options, report: Report, app: str) -> Report:
    seconds = o.seconds
    got = latency.latency(o.server_url, o.rate, seconds, o.threads, schema=o.schema, app=app)
    report.add("taskrow_p50_ms", "taskrow p50", got.p50_ms, "ms")
    report.add("taskrow_p99_ms", "taskrow p99", got.p99_ms, "ms")
    report.add("taskrow_max_ms", "taskrow max", got.max_ms, "ms")
    report.figures.update(samples=got.samples, rate=o.rate, seconds=seconds)
    if o.compare:
        url = database(o.server_url, "pgqueuer_bench")
        peer = peers.pgqueuer("latency", url, o.rate, seconds)
        report.add("pgqueuer_p50_ms", "PgQueuer p50", peer["p50_ms"], "ms")
        report.add("pgqueuer_p99_ms", "PgQueuer p99", peer["p99_ms"], "ms")
        report.add("pgqueuer_max_ms", "PgQueuer max", peer["max_ms"], "ms")
        report.add(
            "ratio_p50",
            "taskrow / PgQueuer p50 (target <= 1)",
            ratio(got.p50_ms, peer["p50_ms"]),
            "x",
        )
        report.add(
            "ratio_p99",
            "taskrow / PgQueuer p99 (target <= 1)",
            ratio(got.p99_ms, peer["p99_ms"]),
            "x",
        )
    report.notes.append("latency: from the enqueue's commit returning to the handler's start")
    return report


def run_history(o: Options) -> Report:
    report = Report("history")
    n = o.n(20_000)
    layout = o.layouts[0]
    url = history.seeded_database(o.server_url, o.finished, o.future, schema=o.schema)
    empty: list[float] = []
    full: list[float] = []
    for _ in range(o.repeat):  # interleaved, so that drifting load hits both alike
        empty.append(history.drain_empty(o.server_url, n, layout, schema=o.schema))
        full.append(history.drain_with_history(url, n, layout, schema=o.schema))
    rate_empty, rate_full = round(median(empty), 1), round(median(full), 1)
    report.add("empty_tasks_per_s", f"drain on an empty table ({layout})", rate_empty, "tasks/s")
    report.add(
        "history_tasks_per_s",
        f"drain with {o.finished:,} finished + {o.future:,} future",
        rate_full,
        "tasks/s",
    )
    report.add("ratio", "history / empty (target >= 0.8)", ratio(rate_full, rate_empty), "x")
    report.figures.update(tasks=n, finished=o.finished, future=o.future, layout=str(layout))
    return report


def run_memory(o: Options) -> Report:
    report = Report("memory")
    n = o.n(100_000)
    got = memory.memory(o.server_url, n, o.threads, schema=o.schema)
    report.add("started_mib", "RSS after start", got.started_mib, "MiB")
    report.add(
        "baseline_mib", f"RSS after {memory.WARMUP:,} warm-up tasks", got.baseline_mib, "MiB"
    )
    report.add("final_mib", f"RSS after {n:,} more tasks", got.final_mib, "MiB")
    report.add("peak_mib", "peak RSS seen", got.peak_mib, "MiB")
    report.add("growth_mib", "growth (target < 20)", got.growth_mib, "MiB")
    report.figures.update(tasks=n, threads=o.threads)
    return report


def run_http(o: Options) -> Report:
    report = Report("enqueue-http")
    load = http.Load(o.connections, o.seconds, o.http_workers)
    ours = http.taskrow_http(o.server_url, load, schema=o.schema)
    theirs = http.rq_http(load) if o.rq else None
    for name, figures in (("taskrow", ours), ("rq", theirs)):
        if figures is None:
            continue
        label = "taskrow" if name == "taskrow" else "Flask + RQ"
        report.add(f"{name}_req_per_s", f"{label} req/s", figures["req_per_s"], "req/s")
        for p in ("p50", "p95", "p99", "max"):
            report.add(f"{name}_{p}_ms", f"{label} {p}", figures[f"{p}_ms"], "ms")
        errors = sum(int(v) for k, v in figures.items() if k.startswith("errors_"))
        report.add(f"{name}_errors", f"{label} errors (socket + HTTP >= 400)", errors)
    report.add(
        "ratio_to_rq",
        "taskrow / RQ req/s (target >= 1)",
        ratio(ours["req_per_s"], theirs["req_per_s"] if theirs else None),
        "x",
    )
    if o.compare:
        url = database(o.server_url, "taskrow_bench_ceiling")
        single = peers.insert_ceiling(url, batch=False, clients=o.connections)
        report.add(
            "ceiling_enqueue_single_rows_per_s",
            f"pgbench single-row inserts ({o.connections} clients)",
            single,
            "rows/s",
        )
    report.figures.update(
        connections=o.connections, seconds=o.seconds, gunicorn_workers=o.http_workers
    )
    return report


def run_async_drain(o: Options) -> Report:
    """Like ``drain``, with no-op ``async def`` handlers on each worker's event loop."""
    report = Report("async-drain")
    n = o.n(20_000)
    best: float | None = None
    for layout in o.layouts:
        rates = [
            drain.drain_once(
                o.server_url, n, layout, schema=o.schema, task="anoop", app=ASYNC_APP
            )
            for _ in range(o.repeat)
        ]
        rate = round(median(rates), 1)
        label = f"taskrow async {layout} (processes x concurrency)"
        report.add(f"taskrow_{layout}_tasks_per_s", label, rate, "tasks/s")
        best = rate if best is None else max(best, rate)
    report.add("taskrow_best_tasks_per_s", "taskrow async, best layout", best, "tasks/s")
    report.figures["tasks"] = n
    if o.compare:
        runs = [
            peers.pgqueuer("drain", database(o.server_url, "pgqueuer_bench"), n)
            for _ in range(o.repeat)
        ]
        pgq = round(median([r["jobs_per_s"] for r in runs]), 1)
        report.add("pgqueuer_jobs_per_s", "PgQueuer 1.6 (1 process, batch 10)", pgq, "jobs/s")
        report.add("ratio_to_pgqueuer", "taskrow async / PgQueuer", ratio(best, pgq), "x")
    return report


def run_io_bound(o: Options) -> Report:
    """Handlers that wait 50 ms: ``async def`` ones awaiting on the loop, then sync ones
    sleeping in threads, at the same layout (the first of ``--layout``), interleaved."""
    report = Report("io-bound")
    n = o.n(2_000)
    layout = o.layouts[0]
    aio: list[float] = []
    threads: list[float] = []
    for _ in range(o.repeat):
        for task, rates in (("await50", aio), ("sleep50", threads)):
            rates.append(
                drain.drain_once(
                    o.server_url, n, layout, schema=o.schema, task=task, app=ASYNC_APP
                )
            )
    rate_aio, rate_threads = round(median(aio), 1), round(median(threads), 1)
    bound = round(layout.processes * layout.threads / 0.05, 1)
    report.add(
        "async_tasks_per_s", f"async handlers awaiting 50 ms ({layout})", rate_aio, "tasks/s"
    )
    report.add(
        "threads_tasks_per_s", f"sync handlers sleeping 50 ms ({layout})", rate_threads, "tasks/s"
    )
    report.add("bound_tasks_per_s", "bound: slots / 50 ms", bound, "tasks/s")
    report.add("ratio_async_to_threads", "async / threads", ratio(rate_aio, rate_threads), "x")
    report.figures.update(tasks=n, layout=str(layout))
    if o.compare:
        slots = layout.processes * layout.threads
        url = database(o.server_url, "pgqueuer_bench")
        runs = [peers.pgqueuer("io", url, n, 50, slots) for _ in range(o.repeat)]
        pgq = round(median([r["jobs_per_s"] for r in runs]), 1)
        label = f"PgQueuer 1.6 awaiting 50 ms (1 process, {slots} at once)"
        report.add("pgqueuer_jobs_per_s", label, pgq, "jobs/s")
        report.add("ratio_to_pgqueuer", "taskrow async / PgQueuer", ratio(rate_aio, pgq), "x")
    return report


SCENARIOS = {
    "async-drain": run_async_drain,
    "async-latency": run_async_latency,
    "io-bound": run_io_bound,
    "drain": run_drain,
    "enqueue-bulk": run_bulk,
    "latency": run_latency,
    "history": run_history,
    "memory": run_memory,
    "enqueue-http": run_http,
}
