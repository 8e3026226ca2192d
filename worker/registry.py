"""Handlers and schedules: the :class:`Registry`, its decorators, and loading ``--app``.

A handler is called as ``fn(ctx, **args)``: the context first, then the task's JSON args as
keyword arguments, so its signature documents the args it takes (args that do not bind end the
task ``dead`` with ``BadArguments``, without retrying). Its JSON return value is the result.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from croniter import croniter

from queue_core import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_QUEUE,
    InvalidTaskError,
    Task,
    enqueue,
    validation,
)
from queue_core.db import Executor

from .errors import AppError, RegistryError
from .kinds import check_handler

Handler = Callable[..., Any]


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """One registered handler and its defaults.

    ``queue``, ``max_attempts`` and ``timeout`` are what :meth:`Registry.enqueue` and periodic
    schedules put on new tasks. The worker also enforces them on tasks enqueued elsewhere: a
    failure on attempt ``max_attempts`` of this spec is final even if the row allows more, and
    ``timeout`` applies when the row carries none. ``retry_on`` None retries every exception;
    a tuple retries only those (and subclasses), any other exception is final.
    """

    name: str
    fn: Handler
    queue: str = DEFAULT_QUEUE
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    timeout: float | None = None
    retry_on: tuple[type[BaseException], ...] | None = None


@dataclasses.dataclass(frozen=True)
class PeriodicSpec:
    """A cron schedule that enqueues ``task`` with ``args`` once per slot.

    Five fields (minute resolution) or six (the sixth is seconds), as croniter reads them.
    Slots are computed in UTC, whatever time zone ``now`` is given in (a database session's
    time zone must not move them).
    """

    schedule: str
    task: str
    args: Mapping[str, Any]

    def next_slot(self, after: datetime) -> datetime:
        """The first slot strictly after ``after`` (an aware datetime)."""
        slot: datetime = croniter(self.schedule, after.astimezone(UTC)).get_next(datetime)
        return slot

    def latest_slot(self, now: datetime) -> datetime:
        """The last slot at or before ``now`` (an aware datetime), exactly: croniter's previous
        slot is strictly before its start, so it starts one microsecond later."""
        start = now.astimezone(UTC) + timedelta(microseconds=1)
        slot: datetime = croniter(self.schedule, start).get_prev(datetime)
        return slot


class Registry:
    """Task names mapped to handlers, plus periodic schedules. Decorate with :meth:`task`."""

    def __init__(self) -> None:
        self.tasks: dict[str, TaskSpec] = {}
        self.periodic_specs: list[PeriodicSpec] = []

    def task(
        self,
        name: str | None = None,
        *,
        queue: str = DEFAULT_QUEUE,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        timeout: float | None = None,
        retry_on: tuple[type[BaseException], ...] | None = None,
    ) -> Callable[[Handler], Handler]:
        """Register the decorated function under ``name`` (default: ``module.qualname``)."""

        def register(fn: Handler) -> Handler:
            check_handler(name or repr(fn), fn)
            spec = TaskSpec(
                name or f"{fn.__module__}.{fn.__qualname__}",
                fn,
                queue,
                max_attempts,
                timeout,
                retry_on,
            )
            self.add(spec)
            return fn

        return register

    def periodic(
        self,
        schedule: str,
        name: str | None = None,
        *,
        args: Mapping[str, Any] | None = None,
        queue: str = DEFAULT_QUEUE,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        timeout: float | None = None,
    ) -> Callable[[Handler], Handler]:
        """Register the decorated function as a task and enqueue it once per cron slot."""
        if not croniter.is_valid(schedule):
            raise RegistryError(f"not a valid cron schedule: {schedule!r}")
        try:
            json.dumps(dict(args or {}), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise RegistryError(f"periodic {schedule!r}: args must be JSON: {exc}") from exc

        def register(fn: Handler) -> Handler:
            self.task(name, queue=queue, max_attempts=max_attempts, timeout=timeout)(fn)
            task_name = name or f"{fn.__module__}.{fn.__qualname__}"
            self.periodic_specs.append(PeriodicSpec(schedule, task_name, dict(args or {})))
            return fn

        return register

    def add(self, spec: TaskSpec) -> None:
        """Register a spec; raises :class:`RegistryError` on a bad or duplicate name, or on a
        handler that cannot run (not callable, a generator or an async generator)."""
        check_handler(spec.name, spec.fn)
        if not validation.TASK_NAME_PATTERN.fullmatch(spec.name):
            raise RegistryError(
                f"{spec.name!r} is not a valid task name ({validation.TASK_NAME_RULE})"
            )
        if spec.name in self.tasks and self.tasks[spec.name].fn is not spec.fn:
            raise RegistryError(f"task {spec.name!r} is already registered")
        if spec.max_attempts < 1:
            raise RegistryError(f"task {spec.name!r}: max_attempts must be at least 1")
        self.tasks[spec.name] = spec

    def queues(self) -> list[str]:
        """The queues of the registered handlers, sorted."""
        return sorted({spec.queue for spec in self.tasks.values()})

    def enqueue(self, executor: Executor, name: str, args: dict[str, Any] | None = None) -> Task:
        """Enqueue a registered task with its spec's queue, max_attempts and timeout."""
        spec = self.tasks.get(name)
        if spec is None:
            raise InvalidTaskError("task", f"no handler named {name!r} is registered")
        timeout = None if spec.timeout is None else max(1, round(spec.timeout))
        return enqueue(
            executor,
            name,
            args,
            queue=spec.queue,
            max_attempts=spec.max_attempts,
            timeout_seconds=timeout,
        )


#: The registry that the module-level :func:`task` and :func:`periodic` decorators fill.
registry = Registry()
task = registry.task
periodic = registry.periodic


def load_app(target: str) -> Registry:
    """Import ``MODULE[:REGISTRY]`` and return its registry.

    Without ``:REGISTRY``: the module's ``registry`` attribute if it is a :class:`Registry`,
    else the default registry (filled by the module-level decorators at import).
    """
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise AppError(f"cannot import {module_name!r}: {exc}") from exc
    found = getattr(module, attribute or "registry", None)
    if isinstance(found, Registry):
        return found
    if attribute:
        raise AppError(f"{module_name}.{attribute} is not a taskrow worker Registry")
    if not registry.tasks:
        raise AppError(f"{module_name!r} registers no task handlers")
    return registry
