"""The JSON text queue_core sends for args and results: the encoder made once writes exactly what
``json.JSONEncoder`` writes with the same options, and the string checks refuse what Postgres
refuses whether the text is ASCII or not."""

from __future__ import annotations

import enum
import json

import pytest

from queue_core import InvalidTaskError, validation


class Level(enum.IntEnum):
    HIGH = 7


class Ratio(float):
    pass


VALUES: list[object] = [
    {},
    {"n": 1},
    {"a": [1, 2.5, -0.0, 1e16, 1e-7, 3.141592653589793, 10**30, -(10**30)]},
    {"t": True, "f": False, "none": None, "nested": {"deep": [[[{"x": "y"}]]]}},
    {"s": 'café ☕ 𝄞 中文 \u2028 \t\n\r"\\/ \x01\x1f'},
    {"é": "key not ascii", "": "empty key", "tuple": (1, "two", None)},
    {"enum": Level.HIGH, "ratio": Ratio(0.5), "big": 2**64},
    [1, "list at the top"],
    "a string",
    42,
    None,
]


@pytest.mark.parametrize("value", VALUES)
def test_the_text_is_the_standard_encoders(value: object) -> None:
    standard = json.JSONEncoder(allow_nan=False, separators=(",", ":")).encode(value)
    assert validation.json_text(value, "args") == standard
    assert json.loads(standard) == json.loads(validation.json_text(value, "args"))


@pytest.mark.parametrize(
    "value", [{"k": "nul\x00"}, {"nul\x00": 1}, {"k": "\ud800"}, {"k": "é\udfff"}, {"\udc00": 1}]
)
def test_nul_and_lone_surrogates_are_refused(value: object) -> None:
    with pytest.raises(InvalidTaskError, match="args"):
        validation.json_object(value)


def test_circular_values_are_refused_before_encoding() -> None:
    looped: dict[str, object] = {}
    looped["self"] = looped
    with pytest.raises(InvalidTaskError, match="nests deeper"):
        validation.json_object(looped)


def nested(levels: int, innermost: object, *, lists: bool = False) -> object:
    value = innermost
    for _ in range(levels):
        value = [value] if lists else {"a": value}
    return value


@pytest.mark.parametrize("innermost", [1, "s", None, True, "é", 2.5])
@pytest.mark.parametrize("lists", [False, True])
def test_the_depth_limit_counts_the_innermost_value(innermost: object, lists: bool) -> None:
    """64 levels of objects or arrays may hold a value; a 65th level is refused (the limit of
    earlier releases, unchanged)."""
    top = {"top": nested(validation.MAX_JSON_DEPTH - 1, innermost, lists=lists)}
    assert json.loads(validation.json_object(top)) == top
    deeper = {"top": nested(validation.MAX_JSON_DEPTH, innermost, lists=lists)}
    with pytest.raises(InvalidTaskError, match="nests deeper than 64"):
        validation.json_object(deeper)
    empty = {"top": nested(validation.MAX_JSON_DEPTH - 1, {}, lists=lists)}
    assert json.loads(validation.json_object(empty)) == empty
