"""Checks on what callers hand to queue_core, before anything touches the database.

Each check raises :class:`InvalidTaskError` naming the field, so nothing is half-written.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from .errors import InvalidTaskError

#: Queue and tenant names: lower-case ASCII, digits, ``_ . -``; they show up in URLs and metrics.
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
#: Task names may also carry upper case and ``:`` (``billing.tasks:SendInvoice``).
TASK_NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}")
TASK_NAME_RULE = "1-128 of A-Z a-z 0-9 _ . : - starting with a letter, a digit or _"
PRIORITY_RANGE = (-32768, 32767)
#: How many attempts a task gets unless its enqueue or its handler's registration says.
DEFAULT_MAX_ATTEMPTS = 3
MAX_ATTEMPTS_RANGE = (1, 1000)
MAX_TIMEOUT_SECONDS = 7 * 24 * 3600
MAX_IDEMPOTENCY_KEY = 255
MAX_JSON_DEPTH = 64
MAX_TEXT = 10_000


def queue_name(value: object, field: str = "queue") -> str:
    return _matching(value, NAME_PATTERN, field, "1-64 of a-z 0-9 _ . - starting with a-z or 0-9")


def task_name(value: object, field: str = "task") -> str:
    return _matching(value, TASK_NAME_PATTERN, field, TASK_NAME_RULE)


def _matching(value: object, pattern: re.Pattern[str], field: str, rule: str) -> str:
    if not isinstance(value, str):
        raise InvalidTaskError(field, f"must be a string ({rule})")
    if not pattern.fullmatch(value):
        raise InvalidTaskError(field, f"{value[:80]!r} is not a valid name ({rule})")
    return value


def integer(value: object, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidTaskError(field, f"must be an integer from {low} to {high}")
    if not low <= value <= high:
        raise InvalidTaskError(field, f"{value} is out of range ({low} to {high})")
    return value


def optional_timeout(value: object, field: str = "timeout_seconds") -> int | None:
    return None if value is None else integer(value, field, 1, MAX_TIMEOUT_SECONDS)


def aware_datetime(value: object, field: str) -> datetime:
    """A timezone-aware datetime, normalised to UTC (Postgres refuses offsets past ±15:59)."""
    if not isinstance(value, datetime):
        raise InvalidTaskError(field, "must be a datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidTaskError(field, "must be timezone-aware (naive datetimes are ambiguous)")
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise InvalidTaskError(field, "is out of the representable range") from exc


def seconds(value: object, field: str, *, maximum: float = 10 * 365 * 86400) -> float:
    """A non-negative duration given as seconds or a timedelta."""
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidTaskError(field, "must be a number of seconds")
    if not 0 <= value <= maximum:
        raise InvalidTaskError(field, f"{value} is out of range (0 to {maximum:g} seconds)")
    return float(value)


def text(value: object, field: str, *, max_length: int = MAX_TEXT) -> str:
    if not isinstance(value, str):
        raise InvalidTaskError(field, "must be a string")
    if len(value) > max_length:
        raise InvalidTaskError(field, f"is longer than {max_length} characters")
    _check_string(value, field)
    return value


def idempotency_key(value: object) -> str | None:
    if value is None:
        return None
    key = text(value, "idempotency_key", max_length=MAX_IDEMPOTENCY_KEY)
    if not key:
        raise InvalidTaskError("idempotency_key", "must not be empty")
    return key


def json_object(value: object, field: str = "args") -> str:
    """Serialise a JSON object for a jsonb column, refusing what Postgres would refuse."""
    if not isinstance(value, dict):
        raise InvalidTaskError(field, "must be a JSON object (a dict with string keys)")
    return json_text(value, field)


def json_text(value: object, field: str) -> str:
    """Serialise any JSON value for a jsonb column, refusing what Postgres would refuse."""
    if value is None or (type(value) is dict and not value):
        return "null" if value is None else "{}"  # nothing to check: the common no-args case
    _check_json(value, field, 0)
    return _encode(value)


# One encoder for every call (json.dumps with options builds a new one each time).
_ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"))


def _fast_encode() -> Callable[[object], str]:
    """``_ENCODER.encode``, without building the C encoder it builds on each call: the same C
    encoder with the same options, made once, less the check for circular references (values
    reach it only after :func:`_check_json`, whose depth limit refuses those). The plain
    method where that encoder is missing or takes other arguments."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return _ENCODER.encode
    try:
        chunks = make(
            None,  # no circular-reference markers
            _ENCODER.default,
            json.encoder.encode_basestring_ascii,
            None,  # indent
            ":",
            ",",
            False,  # sort_keys
            False,  # skipkeys
            False,  # allow_nan
        )
    except TypeError:
        return _ENCODER.encode

    def encode(value: object) -> str:
        return "".join(chunks(value, 0))

    return encode


_encode = _fast_encode()


def _check_json(value: object, field: str, depth: int) -> None:
    if depth > MAX_JSON_DEPTH:
        raise InvalidTaskError(field, f"nests deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, dict):  # first: args are an object
        shallow = depth < MAX_JSON_DEPTH  # its items may nest one level more
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidTaskError(field, f"has a non-string key {key!r}")
            if "\x00" in key or not key.isascii():
                _check_string(key, field)
            if not (shallow and _plain(item)):
                _check_json(item, field, depth + 1)
    elif isinstance(value, list | tuple):
        shallow = depth < MAX_JSON_DEPTH
        for item in value:
            if not (shallow and _plain(item)):
                _check_json(item, field, depth + 1)
    elif isinstance(value, str):
        _check_string(value, field)
    elif isinstance(value, bool) or value is None or isinstance(value, int):
        return
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidTaskError(field, "contains NaN or Infinity, which JSON cannot carry")
    else:
        raise InvalidTaskError(field, f"is not JSON-serialisable ({type(value).__name__})")


def _plain(value: object) -> bool:
    """Whether ``value`` needs no check at all: None, an int, a bool, or an ASCII string
    without NUL (exact types: a subclass takes the full check)."""
    kind = type(value)
    if kind is str:
        return value.isascii() and "\x00" not in value  # type: ignore[attr-defined,operator]
    return kind is int or kind is bool or value is None


def _check_string(value: str, field: str) -> None:
    if "\x00" in value:
        raise InvalidTaskError(field, "contains a NUL character, which Postgres cannot store")
    if value.isascii():  # no surrogate then (a constant-time test)
        return
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidTaskError(field, "contains a lone surrogate (invalid Unicode)") from exc


def canonical_json(value: object) -> str:
    """A JSON value's text with every object's keys sorted: equal for equal content, whatever
    the order its keys were given in (a list's order stays: it is content)."""
    return _CANONICAL.encode(value)


_CANONICAL = json.JSONEncoder(allow_nan=False, separators=(",", ":"), sort_keys=True)


def fingerprint_source(fields: dict[str, Any]) -> str:
    """Canonical text of an enqueue request, hashed to compare idempotent retries."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
