"""The command-line value parsers, in-process (no database, no subprocess)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import click
import pytest

from queue_core import Task
from taskrow.ops.params import Cursor, Duration, JsonObject, Timestamp, cursor_after
from taskrow.ops.render import duration
from taskrow.ops.runtime import one_line


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("7d", 604800.0),
        ("12h", 43200.0),
        ("30m", 1800.0),
        ("45s", 45.0),
        ("1h30m", 5400.0),
        ("1.5h", 5400.0),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert Duration(unit_required=True).convert(text, None, None) == seconds


@pytest.mark.parametrize("text", ["7", "", "7x", "d", "-1h", "1h 30m", "1e3s"])
def test_durations_refused(text: str) -> None:
    with pytest.raises(click.BadParameter):
        Duration(unit_required=True).convert(text, None, None)


def test_bare_seconds_only_where_allowed() -> None:
    assert Duration(unit_required=False).convert("90", None, None) == 90.0


def test_timestamps_need_an_offset() -> None:
    parsed = Timestamp().convert("2030-01-01T09:00:00Z", None, None)
    assert parsed == datetime(2030, 1, 1, 9, tzinfo=UTC)
    with pytest.raises(click.BadParameter, match="no UTC offset"):
        Timestamp().convert("2030-01-01T09:00:00", None, None)


@pytest.mark.parametrize("text", ["[1]", '"x"', "{", "null"])
def test_args_must_be_a_json_object(text: str) -> None:
    with pytest.raises(click.BadParameter):
        JsonObject().convert(text, None, None)


def test_cursor_round_trip_is_exact() -> None:
    created = datetime(2026, 11, 27, 17, 42, 40, 814264, tzinfo=UTC)
    task_id = uuid.uuid4()
    task = Task(
        id=task_id, tenant="default", queue="q", task="t", args={}, priority=0, state="queued",  # type: ignore[arg-type]
        run_at=created, attempts=0, max_attempts=3, timeout_seconds=None, lease_token=None,
        worker_id=None, cancel_requested=False, progress_current=None, progress_total=None,
        progress_message=None, result=None, error_type=None, error_message=None,
        error_traceback=None, idempotency_key=None, fingerprint=None, created_at=created,
        started_at=None, finished_at=None,
    )  # fmt: skip
    assert Cursor().convert(cursor_after(task), None, None) == (created, task_id)
    for junk in ["1.abc", "W10", "WyJ4IiwgNV0", "\udcff"]:  # "[]", ["x", 5], a lone surrogate
        with pytest.raises(click.BadParameter):
            Cursor().convert(junk, None, None)


def test_human_durations_and_safe_lines() -> None:
    assert [duration(s) for s in (4.25, 45, 185, 7200, 7 * 86400, 86400 + 3 * 3600)] == [
        "4.2s", "45s", "3m05s", "2h", "7d", "1d03h",
    ]  # fmt: skip
    assert one_line("a\nb\x1b[31m\udcff") == "a\\nb\\x1b[31m\\udcff"
