"""LineBudget: so many lines a second, the rest counted and handed back once the second ends."""

from __future__ import annotations

import threading

from queue_core.lines import LineBudget, Overflow

from ..support import Clock


def test_lines_beyond_the_budget_are_counted_until_the_second_is_over() -> None:
    clock = Clock()
    budget = LineBudget(2, clock=clock)
    assert [budget.admit() for _ in range(5)] == [(True, None)] * 2 + [(False, None)] * 3
    clock.now += 0.5
    assert budget.due(clock.now) is None  # the second is not over
    clock.now += 0.75
    assert budget.admit() == (True, Overflow(3, 1.25))  # a new second: a line, and the count
    assert budget.drain() is None  # nothing counted since


def test_a_tick_or_a_stop_hands_back_the_count_and_no_budget_writes_every_line() -> None:
    clock = Clock()
    budget = LineBudget(0, clock=clock)
    assert [budget.admit()[0] for _ in range(4)] == [False] * 4
    clock.now += 1.0
    assert budget.due(clock.now) == Overflow(4, 1.0)
    budget.admit()
    assert budget.drain() == Overflow(1, 0.0)
    unlimited = LineBudget(None, clock=clock)
    assert all(unlimited.admit() == (True, None) for _ in range(1000))


def test_threads_sharing_a_budget_write_exactly_its_lines() -> None:
    budget = LineBudget(50, clock=lambda: 7.0)  # one second throughout
    written: list[bool] = []
    lock = threading.Lock()

    def post() -> None:
        for _ in range(100):
            ok, _over = budget.admit()
            with lock:
                written.append(ok)

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert written.count(True) == 50 and budget.drain() == Overflow(750, 0.0)
