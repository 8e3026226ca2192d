"""Each scenario as a function of its options, returning a :class:`Report`.

Medians of ``repeat`` runs where a run is cheap; the peers and the ceiling run in the same
invocation, on the same server, so that ratios compare like with like.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import bulk, drain, history, http, latency, memory, meter, peers, pooler, procs
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
    peer_layouts: tuple[drain.Layout, ...]
    procrastinate_layouts: tuple[drain.Layout, ...]
    batch: int
    writers: int
    rate: float
    seconds: int
    connections: int
    http_layouts: tuple[http.ServerLayout, ...]
    rq_layouts: tuple[http.ServerLayout, ...]
    finished: int
    future: int
    threads: int
    rq: bool
    async_commit: bool

    def n(self, default: int) -> int:
        return self.tasks if self.tasks is not None else default


def run_drain(o: Options) -> Report:
    """taskrow at each layout searched (its defaults among them); with ``--compare``, every
    peer at each of its layouts too, then best/best and default/default ratios."""
    return _drain_report(o, Report("drain"), "taskrow", task="noop", app=procs.APP)


def run_async_drain(o: Options) -> Report:
    """Like ``drain``, with no-op ``async def`` handlers on each worker's event loop."""
    return _drain_report(o, Report("async-drain"), "taskrow async", task="anoop", app=ASYNC_APP)


def _drain_report(o: Options, report: Report, name: str, *, task: str, app: str) -> Report:
    n = o.n(20_000)
    layouts = _with_default(o.layouts, drain.DEFAULT_LAYOUT)
    startup = drain.startup_cpu(o.server_url, schema=o.schema)
    rates: dict[drain.Layout, float] = {}
    for layout in layouts:
        runs = [
            drain.drain_once(
                o.server_url, n, layout, schema=o.schema, startup=startup, task=task, app=app
            )
            for _ in range(o.repeat)
        ]
        rates[layout] = round(median([r.rate for r in runs]), 1)
        tag = " (its defaults)" if layout == drain.DEFAULT_LAYOUT else ""
        report.add(
            f"taskrow_{layout}_tasks_per_s",
            f"{name} {layout} (processes x concurrency){tag}",
            rates[layout],
            "tasks/s",
        )
        _cost_row(report, f"taskrow_{layout}", f"  {name} {layout}", [r.costs for r in runs])
    best_layout = max(rates, key=rates.__getitem__)
    best, default = rates[best_layout], rates[drain.DEFAULT_LAYOUT]
    report.add("taskrow_best_tasks_per_s", f"{name}, best layout ({best_layout})", best, "tasks/s")
    report.figures.update(tasks=n, taskrow_best_layout=str(best_layout))
    if o.compare:
        _compare_drain(o, report, n, best, default)
    return report


def _cost_row(report: Report, key: str, label: str, runs: list[dict[str, float | None]]) -> None:
    """The median cost per task over runs, as one table row and flat figures."""
    costs: dict[str, float | None] = {}
    for name in runs[0]:
        values = [v for r in runs if (v := r[name]) is not None]
        costs[name] = round(median(values), 2) if values else None
    report.rows.append((f"{label} per task", meter.summary(costs), ""))
    report.figures.update({f"{key}_{name}": value for name, value in costs.items()})


PROCRASTINATE_TASKS = 5_000  # about 500 jobs/s: a larger drain measures the same rate, slower


def _peer_row(
    report: Report, key: str, name: str, knob: str, layout: drain.Layout, runs: list[float]
) -> float:
    rate = round(median(runs), 1)
    default = {"pgqueuer": peers.PGQUEUER_DEFAULT, "procrastinate": peers.PROCRASTINATE_DEFAULT}
    tag = " (its defaults)" if layout == default[key] else ""
    report.add(
        f"{key}_{layout}_jobs_per_s", f"{name} {layout} (processes x {knob}){tag}", rate, "jobs/s"
    )
    return rate


def _peer_best(
    report: Report, key: str, name: str, rates: dict[drain.Layout, float]
) -> tuple[float, float]:
    """Report the best layout of a peer; returns (best, defaults) rates."""
    layout = max(rates, key=rates.__getitem__)
    report.add(f"{key}_best_jobs_per_s", f"{name}, best layout ({layout})", rates[layout], "jobs/s")
    report.figures[f"{key}_best_layout"] = str(layout)
    default = peers.PGQUEUER_DEFAULT if key == "pgqueuer" else peers.PROCRASTINATE_DEFAULT
    return rates[layout], rates[default]


def _compare_procrastinate(o: Options, report: Report, n: int, best: float) -> None:
    rates: dict[drain.Layout, float] = {}
    for layout in _with_default(o.procrastinate_layouts, peers.PROCRASTINATE_DEFAULT):
        runs = [  # a fresh database each run: procrastinate's schema is applied once
            peers.procrastinate(database(o.server_url, "procrastinate_bench"), n, layout)[
                "jobs_per_s"
            ]
            for _ in range(o.repeat)
        ]
        rates[layout] = _peer_row(
            report, "procrastinate", "procrastinate 3", "concurrency", layout, runs
        )
    proc_best, _ = _peer_best(report, "procrastinate", "procrastinate", rates)
    report.figures["procrastinate_tasks"] = n
    report.add(
        "ratio_best_to_procrastinate_best",
        "taskrow best / procrastinate best",
        ratio(best, proc_best),
        "x",
    )


def _with_default(layouts: tuple[drain.Layout, ...], default: drain.Layout) -> list[drain.Layout]:
    return [default, *(layout for layout in layouts if layout != default)]


def _compare_drain(o: Options, report: Report, n: int, best: float, default: float) -> None:
    pgq: dict[drain.Layout, float] = {}
    idle = database(o.server_url, "pgqueuer_bench_idle")
    peers.pgqueuer("prepare", idle, 0)
    startup = peers.pgqueuer("drain", idle, 0, 1, 10)["cpu_s"]
    for layout in _with_default(o.peer_layouts, peers.PGQUEUER_DEFAULT):
        rates, costs = [], []
        for _ in range(o.repeat):
            url = database(o.server_url, "pgqueuer_bench")
            peers.pgqueuer("prepare", url, n)
            before = meter.read(url)
            got = peers.pgqueuer("drain", url, n, layout.processes, layout.threads)
            after = meter.read(url)
            client = got["cpu_s"] - layout.processes * startup
            rates.append(got["jobs_per_s"])
            costs.append(meter.per_task(url, before, after, n, client_cpu=client))
        pgq[layout] = _peer_row(report, "pgqueuer", "PgQueuer 1.6", "batch_size", layout, rates)
        _cost_row(report, f"pgqueuer_{layout}", f"  PgQueuer {layout}", costs)
    pgq_best, pgq_default = _peer_best(report, "pgqueuer", "PgQueuer", pgq)
    if o.procrastinate_layouts:
        _compare_procrastinate(o, report, min(n, PROCRASTINATE_TASKS), best)
    ceiling = peers.ceiling(database(o.server_url, "taskrow_bench_ceiling"))
    for key, value in ceiling.items():
        report.add(f"ceiling_{key}", f"ceiling {key}", value)
    report.add(
        "ratio_best_to_pgqueuer_best",
        "taskrow best / PgQueuer best (target >= 1.2)",
        ratio(best, pgq_best),
        "x",
    )
    report.add(
        "ratio_default_to_pgqueuer_default",
        "taskrow defaults / PgQueuer defaults (target >= 1.0)",
        ratio(default, pgq_default),
        "x",
    )
    report.add(
        "ratio_to_fused_durable_ceiling",
        "taskrow best / fused durable ceiling",
        ratio(best, ceiling.get("fused_batch50_tasks_per_s")),
        "x",
    )
    report.add(
        "ratio_to_fused_async_ceiling",
        "taskrow best / fused async-commit ceiling",
        ratio(best, ceiling.get("fused_batch50_async_commit_tasks_per_s")),
        "x",
    )
    report.notes.append(
        "clocks: taskrow from its first claim to its last acknowledgement (database time); "
        "PgQueuer from its first handler call to the end of its last process's run (wall clock)"
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
    """taskrow at each server layout searched, and (``--rq``) Flask + RQ at each of its own;
    medians of ``repeat`` rounds, each round measuring every layout once (interleaved, so
    drift on a shared machine hits all alike); best against best: Flask + RQ's layout with
    the most requests a second, taskrow's among its layouts whose median p99 is under 100 ms
    (the target's bound; all of them, if none is)."""
    report = Report("enqueue-http")
    load = http.Load(o.connections, o.seconds)
    sides: dict[str, tuple[http.ServerLayout, ...]] = {"taskrow": o.http_layouts}
    if o.rq:
        sides["rq"] = o.rq_layouts
    runs: dict[tuple[str, http.ServerLayout], list[dict[str, float]]] = {}
    for _ in range(o.repeat):
        for layout in o.http_layouts:
            got = http.taskrow_http(o.server_url, layout, load, schema=o.schema)
            runs.setdefault(("taskrow", layout), []).append(got)
        for layout in sides.get("rq", ()):
            runs.setdefault(("rq", layout), []).append(http.rq_http(layout, load))
    best: dict[str, float] = {}
    best_layout: dict[str, http.ServerLayout] = {}
    for name, layouts in sides.items():
        medians = {
            layout: _http_rows(report, name, layout, runs[name, layout]) for layout in layouts
        }
        # taskrow's target holds it to p99 under P99_BOUND_MS (if no layout is, all compete);
        # the peer's best is its fastest layout, whatever its p99
        within = [layout for layout, (_, p99) in medians.items() if p99 < P99_BOUND_MS]
        candidates = within if name == "taskrow" and within else list(medians)
        best_layout[name] = max(candidates, key=lambda layout: medians[layout][0])
        best[name] = medians[best_layout[name]][0]
    report.add(
        "taskrow_req_per_s",
        f"taskrow, best layout with p99 < {P99_BOUND_MS:g} ms ({best_layout['taskrow']})",
        best["taskrow"],
        "req/s",
    )
    if "rq" in best:
        report.add(
            "rq_req_per_s",
            f"Flask + RQ, best layout ({best_layout['rq']})",
            best["rq"],
            "req/s",
        )
    report.add(
        "ratio_to_rq",
        "taskrow best / Flask + RQ best req/s (target >= 1)",
        ratio(best["taskrow"], best.get("rq")),
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
    report.figures.update(connections=o.connections, seconds=o.seconds)
    return report


#: enqueue-http's target holds taskrow's best layout to a median p99 under this.
P99_BOUND_MS = 100.0


def _http_rows(
    report: Report, name: str, layout: http.ServerLayout, runs: list[dict[str, float]]
) -> tuple[float, float]:
    """Add one layout's medians to the report; returns its median req/s and p99."""
    label = "taskrow" if name == "taskrow" else "Flask + RQ"
    key = f"{name}_{str(layout).replace(':', '_')}"
    rate = round(median([r["req_per_s"] for r in runs]), 1)
    report.add(f"{key}_req_per_s", f"{label} {layout} (workers x threads) req/s", rate, "req/s")
    latency = {}
    for p in ("p50", "p99"):
        latency[p] = round(median([r[f"{p}_ms"] for r in runs]), 2)
        report.add(f"{key}_{p}_ms", f"{label} {layout} {p}", latency[p], "ms")
    errors = sum(int(v) for r in runs for k, v in r.items() if k.startswith("errors_"))
    report.add(f"{key}_errors", f"{label} {layout} errors (socket + HTTP >= 400)", errors)
    return rate, latency["p99"]


def run_io_bound(o: Options) -> Report:
    """Handlers that wait 50 ms: ``async def`` ones awaiting on the loop, then sync ones
    sleeping in threads, at the same layout (the first of ``--layout``), interleaved."""
    report = Report("io-bound")
    n = o.n(2_000)
    layout = o.layouts[0]
    aio: list[float] = []
    threads: list[float] = []
    for _ in range(o.repeat):
        for task, app, rates in (("await50", ASYNC_APP, aio), ("sleep50", procs.APP, threads)):
            rates.append(
                drain.drain_once(o.server_url, n, layout, schema=o.schema, task=task, app=app).rate
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


def run_pooler(o: Options) -> Report:
    return pooler.run(
        o.server_url,
        schema=o.schema,
        n=o.n(20_000),
        layout=o.layouts[0],
        server_layout=o.http_layouts[0],
        load=http.Load(o.connections, o.seconds),
        repeat=o.repeat,
    )


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
    "pooler": run_pooler,
}
