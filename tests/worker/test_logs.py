"""The worker's log formats: the text format's cached time text reads as logging's own; the
rate of success lines."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

import pytest

from queue_core import Claimed, LeaseToken, TaskId
from worker.jobs import Job
from worker.logs import SuccessLines, TextFormatter, observe

from ..support import Clock


def test_the_text_format_matches_loggings_default_rendering() -> None:
    ours = TextFormatter()
    stock = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    for created in (1_700_000_000.25, 1_700_000_000.999, 1_700_000_001.0, 1_700_000_061.5):
        record = logging.LogRecord("worker.tasks", logging.INFO, "", 0, "task.succeeded", (), None)
        record.created, record.msecs = created, (created - int(created)) * 1000
        assert ours.format(record) == stock.format(record)


def job() -> Job:
    task_id, token = TaskId(uuid.uuid4()), LeaseToken(uuid.uuid4())
    now = datetime.now(UTC)
    return Job(Claimed(task_id, token, "t", "default", "noop", {}, 1, 3, None, now), None)


def events(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage().split(" ", 1)[0] for r in caplog.records if r.name == "worker.tasks"]


def test_successes_beyond_the_rate_are_counted_once_the_second_is_over(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[str] = []
    observe(lambda event, _job: seen.append(event))
    clock = Clock()
    lines = SuccessLines(100, clock=clock)
    caplog.set_level(logging.INFO, logger="worker.tasks")
    for _ in range(150):
        lines.succeeded(job())
    clock.now += 0.5
    lines.tick(clock.now)  # the second is not over: nothing yet
    assert events(caplog) == ["task.succeeded"] * 100
    clock.now += 0.6
    lines.tick(clock.now)
    counted = caplog.records[-1]
    assert events(caplog)[100:] == ["task.succeeded_count"]
    assert counted.fields == {"event": "task.succeeded_count", "count": 50, "seconds": 1.1}  # type: ignore[attr-defined]
    for _ in range(3):  # a new second: lines again
        lines.succeeded(job())
    assert events(caplog)[101:] == ["task.succeeded"] * 3
    assert seen.count("task.succeeded") >= 153  # observers (metrics) see every success


def test_a_stop_logs_the_count_so_far_and_debug_logs_every_success(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    lines = SuccessLines(0, clock=clock)
    caplog.set_level(logging.INFO, logger="worker.tasks")
    for _ in range(7):
        lines.succeeded(job())
    assert events(caplog) == []
    lines.flush()
    assert events(caplog) == ["task.succeeded_count"]
    assert caplog.records[-1].fields["count"] == 7  # type: ignore[attr-defined]
    caplog.set_level(logging.DEBUG, logger="worker.tasks")
    for _ in range(5):
        lines.succeeded(job())
    assert events(caplog)[1:] == ["task.succeeded"] * 5
