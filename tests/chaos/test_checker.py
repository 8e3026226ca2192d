"""The checker's verdict on one-attempt tasks: dead is allowed only when a handler started."""

from __future__ import annotations

from typing import NamedTuple

from .checker import Event, _Verdicts


class Row(NamedTuple):
    state: str
    attempts: int = 1
    result: object = None
    error_type: str | None = None


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


def test_a_one_attempt_task_held_unstarted_by_a_killed_worker_is_spent_not_lost() -> None:
    """Its claim counted the attempt; the worker died before the handler started: the lease
    expired on the last attempt. Reported apart; the same task no kill held is a failure."""
    kill = Event("kill worker", 10.0, 10.0, frozenset({"held"}), 0)
    verdicts = _Verdicts()
    verdicts.judge("held", "once", Row("dead", error_type="LeaseExpired"), [], [kill])
    verdicts.judge("free", "once", Row("dead", error_type="LeaseExpired"), [], [kill])
    verdicts.judge("held-other", "once", Row("dead", error_type="WorkerStopped"), [], [])
    assert verdicts.spent_by_kill == ["held"]
    assert verdicts.never_ran_dead == ["free", "held-other"]
