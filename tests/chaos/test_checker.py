"""The checker's verdict on one-attempt tasks: dead is allowed only when a handler started."""

from __future__ import annotations

from typing import NamedTuple

from .checker import _Verdicts


class Row(NamedTuple):
    state: str
    attempts: int = 1
    result: object = None


def test_a_one_attempt_task_dead_without_a_start_is_reported() -> None:
    verdicts = _Verdicts(starts=frozenset({"ran"}))
    verdicts.judge("ran", "once", Row("dead"), [], [])
    verdicts.judge("never", "once.tx", Row("dead"), [], [])
    verdicts.judge("fine", "once", Row("succeeded"), [], [])
    assert verdicts.never_ran_dead == ["never"]
    assert verdicts.lost == [] and verdicts.stuck == []


def test_a_one_attempt_task_left_running_is_stuck() -> None:
    verdicts = _Verdicts()
    verdicts.judge("t", "once", Row("running"), [], [])
    assert verdicts.stuck == ["t"] and verdicts.never_ran_dead == []


def test_only_a_task_a_cancel_was_sent_for_may_end_cancelled() -> None:
    verdicts = _Verdicts(cancel_requested=frozenset({"asked"}))
    verdicts.judge("asked", "work", Row("cancelled"), [], [])
    verdicts.judge("unasked", "work", Row("cancelled"), [], [])
    assert verdicts.lost == ["unasked"]
