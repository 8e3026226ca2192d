"""The bounded chaos suite: each scenario runs real processes under one kind of fault, then
the checker demands lost = 0, zombie overwrites = 0, stuck = 0 (and duplicates bounded by the
faults, and recovery within lease + 2 s where the load leaves the workers headroom). The long
mixed run is ``make soak`` (tests/chaos/soak.py)."""

from __future__ import annotations

import pytest

from . import scenarios
from .cluster import Cluster
from .periodic_handlers import TICK
from .report import Report
from .scenarios import GOOD, MIXED_KINDS, POISONED, REDRIVABLE, SLOW, Load

pytestmark = pytest.mark.slow  # the chaos suite: faults under load


def assert_sound(report: Report, *, check_recovery: bool = True) -> None:
    problems = report.problems(check_recovery=check_recovery)
    assert not problems, f"{report.table()}\n" + "\n".join(problems)


def assert_mixed_kinds(report: Report) -> None:
    """The thread-pool poison and the one-attempt tasks were in the load (and judged: poison
    must end dead, or cancelled when a cancel was sent for it)."""
    assert report.poison >= 1 and report.states.get("dead", 0) >= 1
    assert report.states.get("succeeded", 0) > report.acknowledged // 2


def test_sigkill_random_workers(cluster: Cluster) -> None:
    cluster.start_api()
    cluster.add_workers(3)
    load = Load(200, 16.0, MIXED_KINDS, pause=0.3)
    report = scenarios.run(cluster, "SIGKILL random workers", load, scenarios.kill_workers)
    assert_sound(report)
    assert_mixed_kinds(report)
    assert report.events["kill worker"] >= 3
    assert report.recoveries, "no kill hit a worker that held tasks"


def test_sigkill_gunicorn_workers_mid_request(cluster: Cluster) -> None:
    cluster.start_api()
    cluster.add_workers(2)
    # Paced, not flooded: the load lasts about 8 s however fast the API answers, so that
    # several workers die mid-request (a fast API once drained 300 requests in 3 s).
    load = Load(300, 12.0, GOOD, threads=6, pause=0.15)
    report = scenarios.run(cluster, "SIGKILL gunicorn workers", load, scenarios.kill_api_workers)
    assert_sound(report)
    assert report.events["kill gunicorn worker"] >= 3  # one every ~1 s while the load lasts
    assert report.refused, "no request was cut off: the kills did not land mid-request"


def test_postgres_crash_and_restart_under_load(cluster: Cluster) -> None:
    cluster.start_api()
    cluster.add_workers(2)
    load = Load(300, 12.0, GOOD, pause=0.1)
    report = scenarios.run(cluster, "Postgres immediate stop", load, scenarios.crash_postgres)
    assert_sound(report)
    assert report.events["postgres crash"] == 2
    assert report.refused, "the API answered 202 through a database outage"


def test_connection_faults_through_the_proxy(cluster: Cluster) -> None:
    cluster.start_api()
    cluster.add_workers(3)
    load = Load(300, 13.0, MIXED_KINDS, pause=0.2)
    report = scenarios.run(
        cluster, "latency, resets, blackhole", load, scenarios.network_faults, cancels=True
    )
    assert_sound(report)
    assert_mixed_kinds(report)
    assert report.cancel_requested >= 10
    assert {"reset connections", "latency 200 ms", "blackhole 5 s"} <= set(report.events)


def test_sigstop_worker_past_its_lease(cluster: Cluster) -> None:
    cluster.start_api()
    cluster.add_workers(3)
    load = Load(150, 12.0, SLOW, pause=0.25)
    report = scenarios.run(cluster, "SIGSTOP past the lease (zombie)", load, scenarios.zombies)
    assert_sound(report)
    assert report.events["zombie (SIGSTOP)"] == 2
    assert report.recoveries, "no stopped worker held a task"


def test_poison_handlers_end_dead_and_good_tasks_succeed(cluster: Cluster) -> None:
    cluster.start_api()
    cluster.add_workers(2, "--pool", "process", concurrency=3)
    load = Load(120, 15.0, POISONED, pause=0.2, pattern=scenarios.POISON_PATTERN)
    report = scenarios.run(cluster, "poison handlers", load, scenarios.no_faults, settle=60.0)
    assert_sound(report)
    assert report.poison == 10 and report.states["dead"] == report.poison


def test_mixed_faults(cluster: Cluster) -> None:
    cluster.start_api()
    cluster.add_workers(3)
    # Each fault is followed by a pause past the lease and some take seconds themselves: the
    # load lasts long enough for three of them even on a loaded machine.
    load = Load(400, 40.0, SLOW, pause=0.3)
    report = scenarios.run(cluster, "mixed faults", load, scenarios.mixed)
    assert_sound(report)
    assert len(report.events) >= 3


def test_periodic_slots_across_worker_kills(cluster: Cluster) -> None:
    """Every worker runs a schedule due every second; workers are SIGKILLed and restarted
    (a restarted worker enqueues the latest slot again). Each due slot must have exactly one
    task, which succeeded after running at least once."""
    cluster.start_api()
    cluster.add_workers(3, app="tests.chaos.periodic_handlers")
    # More tasks than 16 s can post: the deadline, not the count, ends the load (3 kills).
    load = Load(400, 16.0, SLOW, pause=0.3)
    report = scenarios.run(
        cluster, "periodic slots, SIGKILL workers", load, scenarios.kill_workers, periodic=TICK
    )
    assert_sound(report)
    assert report.events["kill worker"] >= 3
    assert report.slots is not None and report.slots.slots >= 10


def test_cancels_and_redrives_while_workers_are_killed(cluster: Cluster) -> None:
    """While busy workers are SIGKILLed, a task is cancelled every 0.25 s (one of the latest,
    mostly running, or one that is queued, in turn) and every other task found dead is
    re-driven: a cancelled task is not lost, a re-driven one must end succeeded, a dead one
    left alone stays dead."""
    cluster.start_api()
    cluster.add_workers(3)
    load = Load(400, 17.0, REDRIVABLE, pause=0.3)  # ends by its deadline (3 kills)
    report = scenarios.run(
        cluster,
        "cancels and re-drives, SIGKILL workers",
        load,
        scenarios.kill_workers,
        cancels=True,
        redrives=True,
    )
    assert_sound(report)
    assert_mixed_kinds(report)
    assert report.events["kill worker"] >= 3
    assert report.cancel_requested >= 20 and report.cancelled >= 1
    assert report.cancel_hits["queued"] >= 1 and report.cancel_hits["running"] >= 1
    assert report.redriven >= 3
    assert report.states.get("cancelled", 0) == report.cancelled


def test_transaction_pgbouncer_in_the_path_killed_with_the_workers(cluster: Cluster) -> None:
    """The API and every worker reach Postgres through a real PgBouncer in transaction pooling
    (TASKROW_POOLER=transaction: two workers poll only, one LISTENs on a direct
    TASKROW_LISTEN_URL); faults alternate between SIGKILL of a busy worker and SIGKILL of the
    PgBouncer itself (1 s down, started again on its port)."""
    cluster.start_pgbouncer()
    cluster.start_api(via_bouncer=True)
    cluster.add_workers(2, "--poll-only", via_bouncer=True)
    cluster.add_workers(1, via_bouncer=True, env={"TASKROW_LISTEN_URL": cluster.url})
    load = Load(600, 22.0, MIXED_KINDS, pause=0.25)  # ends by its deadline (4 faults)
    report = scenarios.run(
        cluster, "transaction PgBouncer, killed", load, scenarios.kill_workers_and_pgbouncer
    )
    assert_sound(report)
    assert_mixed_kinds(report)
    assert report.events["pgbouncer kill"] >= 2 and report.events["kill worker"] >= 2
    wakeups = [(cluster.folder / f"worker-{i}.log").read_text() for i in range(3)]
    assert "wakeup=poll" in wakeups[0] and "wakeup=poll" in wakeups[1]
    assert "wakeup=listen" in wakeups[2] and "wakeup=poll" not in wakeups[2]
