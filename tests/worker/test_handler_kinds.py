"""What can be a handler: plain and ``async def`` callables; anything else is refused when it
is registered, with a message that says why."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import queue_core
from worker import AsyncTaskContext, Registry, RegistryError, TaskContext
from worker.kinds import is_async


async def fetch(ctx: AsyncTaskContext, n: int) -> dict[str, int]:
    return {"n": n}


def plain(ctx: TaskContext) -> None:
    return None


async def stream(ctx: AsyncTaskContext) -> AsyncIterator[int]:
    yield 1


def steps(ctx: TaskContext) -> Iterator[int]:
    yield 1


class AsyncCallable:
    async def __call__(self, ctx: AsyncTaskContext) -> None:
        return None


class SyncCallable:
    def __call__(self, ctx: TaskContext) -> None:
        return None


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        (fetch, True),
        (functools.partial(fetch, n=1), True),
        (AsyncCallable(), True),
        (plain, False),
        (SyncCallable(), False),
        (functools.partial(plain), False),
    ],
)
def test_async_and_sync_handlers_are_accepted_and_told_apart(fn: Any, expected: bool) -> None:
    registry = Registry()
    registry.task("t")(fn)
    assert is_async(registry.tasks["t"].fn) is expected


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (stream, "an async generator cannot be a handler"),
        (steps, "a generator cannot be a handler"),
        (functools.partial(stream), "an async generator cannot be a handler"),
        (42, "the handler must be callable, not 42"),
        ("module.function", "the handler must be callable"),
    ],
)
def test_a_handler_that_cannot_run_is_refused_at_registration(fn: Any, message: str) -> None:
    registry = Registry()
    with pytest.raises(RegistryError, match=message):
        registry.task("t")(fn)
    assert registry.tasks == {}


def test_a_non_callable_without_a_name_is_refused_too() -> None:
    with pytest.raises(RegistryError, match="must be callable"):
        Registry().task()(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name",
    ["send", "billing.tasks:SendInvoice", "_private", "9lives", ".hidden", ":x", "-x", "a b"],
)
def test_a_name_registers_exactly_when_it_can_be_enqueued(name: str) -> None:
    """One rule for task names: the registry refuses what queue_core.enqueue would refuse."""
    try:
        queue_core.validation.task_name(name)
    except queue_core.InvalidTaskError:
        enqueueable = False
    else:
        enqueueable = True
    try:
        Registry().task(name)(plain)
    except RegistryError:
        registered = False
    else:
        registered = True
    assert registered == enqueueable


def test_a_name_too_long_to_enqueue_is_refused_at_registration() -> None:
    with pytest.raises(RegistryError, match="not a valid task name"):
        Registry().task("t" * 129)(plain)
    Registry().task("t" * 128)(plain)
