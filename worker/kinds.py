"""What kind of handler a callable is: run on the pool (sync) or on the event loop (async).

Checked when a handler is registered, so a handler the worker could not run is refused there,
with a message saying why, rather than ending every task ``dead`` later.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from .errors import RegistryError


def is_async(fn: Callable[..., Any]) -> bool:
    """True for an ``async def`` handler (also behind functools.partial, or as ``__call__``)."""
    return inspect.iscoroutinefunction(_target(fn))


def check_handler(name: str, fn: object) -> None:
    """Raise :class:`RegistryError` unless ``fn`` is a plain or an ``async def`` callable."""
    if not callable(fn):
        raise RegistryError(f"task {name!r}: the handler must be callable, not {fn!r}")
    target = _target(fn)
    if inspect.isasyncgenfunction(target):
        raise RegistryError(
            f"task {name!r}: an async generator cannot be a handler (it yields instead of "
            "returning a result); write `async def` with `return`"
        )
    if inspect.isgeneratorfunction(target):
        raise RegistryError(
            f"task {name!r}: a generator cannot be a handler (it yields instead of returning a "
            "result); return the result instead"
        )


def _target(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The function that will actually run: unwraps partials and callable objects."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    if inspect.isfunction(fn) or inspect.ismethod(fn) or inspect.isbuiltin(fn):
        return fn
    call = getattr(type(fn), "__call__", None)  # noqa: B004 - an instance's own __call__
    return fn if call is None or isinstance(fn, type) else call
