"""``pooler``: what ``TASKROW_POOLER=transaction`` costs, with and without server-side prepared
statements, in the same run on the same server.

Each repetition drains the same no-op backlog twice (worker processes with the setting off,
then on) and loads ``POST /v1/tasks`` twice the same way; the medians are reported. Both run
straight to Postgres, so the difference is the setting's own cost (no prepared statements, no
generic plan for the worker's round), not PgBouncer's extra hop.
"""

from __future__ import annotations

from . import drain, http
from .report import Report, median, ratio

TRANSACTION = {"TASKROW_POOLER": "transaction"}
NONE = {"TASKROW_POOLER": "none"}
LABELS = (("none", "prepared (default)"), ("transaction", "TASKROW_POOLER=transaction"))


def run(
    server_url: str,
    *,
    schema: str,
    n: int,
    layout: drain.Layout,
    server_layout: http.ServerLayout,
    load: http.Load,
    repeat: int,
) -> Report:
    report = Report("pooler")
    drains: dict[str, list[float]] = {"none": [], "transaction": []}
    posts: dict[str, list[float]] = {"none": [], "transaction": []}
    for _ in range(repeat):  # interleaved, so drifting load on a shared machine hits both
        for name, env in (("none", NONE), ("transaction", TRANSACTION)):
            drains[name].append(
                drain.drain_once(server_url, n, layout, schema=schema, env=env).rate
            )
            figures = http.taskrow_http(server_url, server_layout, load, schema=schema, env=env)
            posts[name].append(figures["req_per_s"])
    for name, label in LABELS:
        report.add(
            f"drain_{name}_tasks_per_s",
            f"drain {layout}, {label}",
            round(median(drains[name]), 1),
            "tasks/s",
        )
    for name, label in LABELS:
        report.add(
            f"http_{name}_req_per_s",
            f"POST /v1/tasks, {label}",
            round(median(posts[name]), 1),
            "req/s",
        )
    report.add(
        "drain_ratio",
        "drain: transaction / prepared",
        ratio(median(drains["transaction"]), median(drains["none"])),
        "x",
    )
    report.add(
        "http_ratio",
        "HTTP: transaction / prepared",
        ratio(median(posts["transaction"]), median(posts["none"])),
        "x",
    )
    report.figures.update(
        tasks=n,
        layout=str(layout),
        repeat=repeat,
        connections=load.connections,
        seconds=load.seconds,
        server_layout=str(server_layout),
    )
    report.notes.append("straight to Postgres: the setting's cost alone, without a pooler's hop")
    return report
