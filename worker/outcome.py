"""Running user code: call one handler and turn whatever happens into an :class:`Outcome`.

This module holds the one place where the worker catches ``Exception``: around the user's
handler. Nothing here touches the database, so it runs the same in a thread or a child process.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import math
import traceback
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from queue_core import TaskState

from .context import TaskContext
from .errors import Cancelled, Fail, Retry
from .registry import TaskSpec

TRACEBACK_LIMIT = 8000
MAX_RETRY_DELAY = 10 * 365 * 86400.0
MAX_JSON_DEPTH = 64
#: The largest result a handler may return, in bytes of JSON (UTF-8); a larger one fails the
#: attempt with ResultTooLarge (retried while attempts remain, like any failure).
MAX_RESULT_BYTES = 16 * 2**20


@dataclasses.dataclass(frozen=True)
class Succeeded:
    """The handler returned ``result`` (JSON), ``size`` bytes of it."""

    result: Any
    size: int = 0


@dataclasses.dataclass(frozen=True)
class Failed:
    """The attempt failed; ``retryable`` False ends the task (``dead`` or ``cancelled``)."""

    error_type: str
    error_message: str
    error_traceback: str | None = None
    retryable: bool = True
    retry_in: float | None = None


@dataclasses.dataclass(frozen=True)
class Recorded:
    """Already written by the handler's own transaction: ``state`` None means lease lost."""

    state: TaskState | None


Outcome = Succeeded | Failed | Recorded


def run_handler(spec: TaskSpec, args: dict[str, Any], ctx: TaskContext) -> Succeeded | Failed:
    """Call ``spec.fn(ctx, **args)`` and classify the result or exception."""
    unbound = None if binds_at_call(spec.fn) else bad_arguments(spec, args, ctx)
    if unbound is not None:
        return unbound
    try:
        result = spec.fn(ctx, **args)
    except Exception as exc:  # noqa: BLE001 - the one place user code's exceptions are caught
        return unbound_or_classified(exc, spec, args, ctx)
    if inspect.iscoroutine(result):  # e.g. a lambda or wrapper around an async function
        result.close()
        message = f"{spec.name}: the handler returned a coroutine; make it `async def`"
        return Failed("InvalidResult", message, None, retryable=False)
    return checked_result(result)


@functools.lru_cache(maxsize=1024)
def binds_at_call(fn: Callable[..., Any]) -> bool:
    """Whether calling ``fn`` with arguments that do not fit raises TypeError before any of
    its code runs: true of a plain function (or coroutine function) that wraps nothing. Its
    arguments are then checked only when a call raises TypeError (:func:`bad_arguments` costs
    a few microseconds a task); a wrapper's own code would run first, so its arguments are
    checked before the call."""
    return inspect.isfunction(fn) and not hasattr(fn, "__wrapped__")


def unbound_or_classified(
    exc: Exception, spec: TaskSpec, args: dict[str, Any], ctx: object
) -> Failed:
    """The failure of a handler call that raised ``exc``: ``BadArguments`` if the call never
    began (its arguments do not bind), else what :func:`classify` makes of it."""
    if isinstance(exc, TypeError) and binds_at_call(spec.fn):
        unbound = bad_arguments(spec, args, ctx)
        if unbound is not None:
            return unbound
    return classify(exc, spec)


def bad_arguments(spec: TaskSpec, args: dict[str, Any], ctx: object) -> Failed | None:
    """The final failure of args that do not bind to the handler's signature, else None."""
    try:
        _signature(spec.fn).bind(ctx, **args)
    except TypeError as exc:
        return Failed("BadArguments", f"{spec.name}: {exc}", retryable=False)
    return None


@functools.lru_cache(maxsize=1024)
def _signature(fn: Callable[..., Any]) -> inspect.Signature:
    return inspect.signature(fn)


def classify(exc: Exception, spec: TaskSpec) -> Failed:
    """Map a handler's exception to a failure: Retry/Fail/Cancelled steer, ``retry_on`` filters.

    ``retryable`` says only whether this kind of failure may be retried; whether attempts
    remain is decided once, when the failure is recorded (``worker.jobs.Job.last_attempt``)."""
    text = _traceback(exc)
    if isinstance(exc, Retry):
        return Failed("Retry", str(exc), text, retryable=True, retry_in=_delay(exc.delay))
    if isinstance(exc, Fail | Cancelled):
        return Failed(type(exc).__name__, str(exc), text, retryable=False)
    retryable = spec.retry_on is None or isinstance(exc, spec.retry_on)
    return Failed(_type_name(exc), str(exc) or repr(exc), text, retryable=retryable)


def checked_result(result: Any) -> Succeeded | Failed:
    """Refuse, as a final failure, a result that Postgres could not store as JSON."""
    if result is None:
        return _NO_RESULT
    try:
        text = json.dumps(result, allow_nan=False, ensure_ascii=False)
        size = len(text.encode("utf-8"))
    except (TypeError, ValueError, UnicodeEncodeError) as exc:
        return Failed(
            "InvalidResult", f"the handler returned a non-JSON result: {exc}", None, False
        )
    if "\\u0000" in text or "\x00" in text:
        return Failed("InvalidResult", "the result contains a NUL character", None, False)
    if _depth(result) > MAX_JSON_DEPTH:
        message = f"the result nests deeper than {MAX_JSON_DEPTH} levels"
        return Failed("InvalidResult", message, None, False)
    if size > MAX_RESULT_BYTES:
        message = f"the result is {size} bytes of JSON, over the limit of {MAX_RESULT_BYTES}"
        return Failed("ResultTooLarge", message, None, True)
    return Succeeded(json.loads(text), size)


_NO_RESULT = Succeeded(None, 4)  # JSON null


def escaped(exc: BaseException) -> Failed:
    """The failure of an attempt that something escaped: a ``BaseException`` the handler raised
    (``SystemExit``, ``asyncio.CancelledError``, ...) or a fault of the slot running it. Charged
    like any failure: retried while attempts remain (the database decides), else ``dead``."""
    return Failed(_type_name(exc), str(exc) or repr(exc), _traceback(exc), retryable=True)


def timeout_failure(seconds: float) -> Failed:
    """An attempt that ran past its timeout: retried while attempts remain."""
    return Failed("TaskTimeout", f"the attempt ran past its timeout of {seconds:g} s", None, True)


def unknown_task(name: str, known: Iterable[str]) -> Failed:
    """The final failure of a task no handler is registered for in this worker."""
    listed = ", ".join(sorted(known)[:20]) or "none"
    return Failed(
        "UnknownTask",
        f"no handler is registered for task {name!r} in this worker (known: {listed})",
        None,
        retryable=False,
    )


def _type_name(exc: BaseException) -> str:
    kind = type(exc)
    name = kind.__qualname__
    return (name if kind.__module__ == "builtins" else f"{kind.__module__}.{name}")[:200]


def _depth(value: Any) -> int:
    """How deeply a JSON value nests (the queue refuses more than ``MAX_JSON_DEPTH``)."""
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list | tuple):
        return 1 + max(map(_depth, value), default=0)
    return 0


def _delay(value: object) -> float | None:
    """A handler's retry delay made storable: seconds within [0, 10 years], else the backoff."""
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return None
    return min(max(float(value), 0.0), MAX_RETRY_DELAY)


def _traceback(exc: BaseException) -> str:
    text = "".join(traceback.format_exception(exc))
    return text[-TRACEBACK_LIMIT:]
