"""Check a response against the committed OpenAPI document (status, content type, body)."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DOCUMENT = Path(__file__).resolve().parents[2] / "api" / "openapi.json"
URI = "urn:taskrow:openapi"


@functools.cache
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DOCUMENT.read_text())
    return loaded


@functools.cache
def _registry() -> Registry[Any]:
    # Registry.with_resource has no return annotation
    registry: Registry[Any] = Registry().with_resource(
        URI, Resource.from_contents(document(), DRAFT202012)
    )
    return registry


@functools.cache
def _templates() -> list[tuple[re.Pattern[str], str]]:
    """Path templates, literal ones first (``/v1/tasks/batch`` before ``/v1/tasks/{id}``)."""
    paths = sorted(document()["paths"], key=lambda p: ("{" in p, p))
    return [(re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", p) + "$"), p) for p in paths]


def _pointer(*parts: str) -> str:
    return "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def _validate(instance: Any, pointer: str) -> None:
    validator = jsonschema.Draft202012Validator({"$ref": URI + pointer}, registry=_registry())
    validator.validate(instance)


def _operation(method: str, path: str) -> tuple[str, dict[str, Any]] | None:
    for pattern, template in _templates():
        item = document()["paths"][template]
        if pattern.match(path) and method.lower() in item:
            return template, item[method.lower()]
    return None


def check(method: str, path: str, status: int, content_type: str | None, body: bytes) -> None:
    """Raise AssertionError unless the response is one the document describes."""
    assert status < 500 or status == 503, f"{method} {path} answered {status}: {body[:300]!r}"
    found = _operation(method, path)
    if found is None:  # routing errors: Flask's own 404/405, as problems
        assert status in (404, 405), f"{method} {path}: undocumented operation answered {status}"
        assert content_type == "application/problem+json", content_type
        _validate(json.loads(body), "#/components/schemas/Problem")
        return
    template, operation = found
    responses = operation["responses"]
    assert str(status) in responses, f"{method} {template}: status {status} not documented"
    response = responses[str(status)]
    pointer = _pointer("paths", template, method.lower(), "responses", str(status))
    if "$ref" in response:
        pointer = response["$ref"]
        response = document()["components"]["responses"][pointer.rsplit("/", 1)[1]]
    content = response.get("content")
    if not content:
        return
    mimetype = (content_type or "").split(";")[0].strip()
    assert mimetype in content, f"{method} {template} {status}: content type {mimetype!r}"
    if not mimetype.endswith("json"):  # text (the metrics): the document says only "a string"
        return
    _validate(json.loads(body), _join(pointer, "content", mimetype, "schema"))


def _join(pointer: str, *parts: str) -> str:
    return pointer + "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)
