"""Failover on a real Patroni cluster (tests/chaos/patroni.py): two Postgres nodes with
synchronous replication, the API and two workers on the multi-host URL; under HTTP load the
standby is held a few seconds behind, then the primary's postmaster is SIGKILLed. Every task
that got a 202 must be there and finish once Patroni has promoted the standby: lost = 0,
stuck = 0, zombie overwrites = 0. The same with asynchronous replication, and plain kills, are
in ``make ha`` (tests/chaos/failover.py), which reports what asynchronous replication loses.

Needs Debian's patroni and etcd-server (``make ha-deps``, a prerequisite of ``make test``);
without them the test is skipped, except under CI=true, where it fails.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .failover import FAILOVER, LAG_SECONDS, HaCluster, run_failovers, switch_text
from .patroni import PatroniCluster, missing_programs
from .test_chaos import assert_sound

pytestmark = pytest.mark.slow  # failover on a Patroni cluster


@pytest.fixture
def ha_cluster(tmp_path: Path) -> Iterator[HaCluster]:
    if missing := missing_programs():
        message = f"{', '.join(missing)} missing: run `make ha-deps`"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    ha = PatroniCluster(nodes=2, synchronous=True)
    cluster: HaCluster | None = None
    try:
        ha.start()
        # Not tmp_path: pytest may close its tree's modes, and the logs are read as root only.
        cluster = HaCluster(ha, Path(tempfile.mkdtemp(prefix="taskrow-ha-run-", dir=tmp_path)))
        cluster.create()
        yield cluster
    finally:
        if cluster is not None:
            cluster.close()
        ha.close()


def test_synchronous_failover_loses_no_acknowledged_task(ha_cluster: HaCluster) -> None:
    """The standby is first held LAG_SECONDS behind (its WAL receiver frozen), then the primary
    dies: with asynchronous replication the 202s of those seconds are lost (``make ha``
    measures it); with synchronous replication those commits waited, so none was lost."""
    ha_cluster.start_api()
    ha_cluster.add_workers(2)
    report = run_failovers(ha_cluster, count=1, seconds=16.0, lagging=LAG_SECONDS)
    [switch] = ha_cluster.switches
    print(switch_text(switch))
    assert_sound(report, check_recovery=False)
    assert set(report.events) == {f"{FAILOVER}, standby {LAG_SECONDS:g} s behind"}
    assert switch.new != switch.old
    assert report.acknowledged > 100
    assert switch.to_first_202 < 30, switch_text(switch)
