"""Click parameter types for the operator commands; a bad value is a one-line usage error."""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime
from typing import Any

import click

from queue_core import InvalidTaskError, records

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


class Duration(click.ParamType[float, Any]):
    """A duration such as ``7d``, ``12h``, ``30m``, ``45s`` or ``1h30m``, as seconds (float).

    With ``unit_required`` a bare number is refused (``prune --older-than 7`` would otherwise
    quietly mean seven seconds); without it a bare number is seconds.
    """

    name = "duration"

    def __init__(self, *, unit_required: bool) -> None:
        self.unit_required = unit_required

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, float):
            return value
        text = str(value).strip().lower()
        if not self.unit_required and _NUMBER.fullmatch(text):
            return float(text)
        parts = _DURATION_PART.findall(text)
        if not text or "".join(n + u for n, u in parts) != text:
            self.fail(
                f"{value!r} is not a duration (examples: 7d, 12h, 30m, 45s, 1h30m)", param, ctx
            )
        return float(sum(float(n) * _UNIT_SECONDS[u] for n, u in parts))


class Timestamp(click.ParamType[datetime, Any]):
    """An RFC 3339 timestamp with an offset (``2026-12-01T09:00:00Z``), as an aware datetime."""

    name = "rfc3339"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, datetime):
            return value
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError:
            self.fail(
                f"{value!r} is not an RFC 3339 timestamp (e.g. 2026-12-01T09:00:00Z)", param, ctx
            )
        if parsed.tzinfo is None:
            self.fail(
                f"{value!r} has no UTC offset (add Z or +01:00: a bare time is ambiguous)",
                param,
                ctx,
            )
        return parsed


class JsonObject(click.ParamType[dict[str, Any], Any]):
    """A JSON object given on the command line, as a dict (its contents are checked by
    queue_core: NUL characters, lone surrogates, NaN and deep nesting are refused there)."""

    name = "json"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, dict):
            return value
        try:
            parsed = json.loads(str(value))
        except json.JSONDecodeError as exc:
            self.fail(f"not valid JSON: {exc}", param, ctx)
        except RecursionError:
            self.fail("JSON nests too deeply", param, ctx)
        if not isinstance(parsed, dict):
            self.fail('must be a JSON object, e.g. \'{"to": "a@example.com"}\'', param, ctx)
        return parsed


class Cursor(click.ParamType[tuple[datetime, uuid.UUID], Any]):
    """The page cursor printed by ``taskrow ls`` (queue_core's one format, the HTTP API's
    ``next_cursor`` too, so either works here): where the previous page ended."""

    name = "cursor"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple):
            return value
        try:
            return records.decode_cursor(str(value))
        except InvalidTaskError:
            self.fail(f"{value!r} is not a cursor printed by `taskrow ls`", param, ctx)


#: The cursor for the page that follows a task (the last one shown).
cursor_after = records.encode_cursor
