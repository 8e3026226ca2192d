"""The app's response class hands a body held in memory to the WSGI server as one list (one
write in granian), and leaves streamed bodies as iterators."""

from __future__ import annotations

from typing import Any

from flask import Flask

from api.responses import Response


def _app_iter(app: Flask, response: Response, method: str = "GET") -> Any:
    with app.test_request_context("/", method=method) as ctx:
        return response.get_app_iter(ctx.request.environ)


def test_a_body_in_memory_is_one_list(app: Flask) -> None:
    assert app.response_class is Response
    body = _app_iter(app, Response('{"a": 1}', 202, mimetype="application/json"))
    assert isinstance(body, list) and b"".join(body) == b'{"a": 1}'


def test_head_and_bodiless_statuses_send_no_bytes(app: Flask) -> None:
    assert _app_iter(app, Response("text"), method="HEAD") == []
    assert _app_iter(app, Response("text", 204)) == []
    assert _app_iter(app, Response("text", 304)) == []


def test_a_streamed_body_stays_an_iterator(app: Flask) -> None:
    pulled: list[int] = []

    def chunks() -> Any:
        for i in range(3):
            pulled.append(i)
            yield f"{i}"

    body = _app_iter(app, Response(chunks()))
    assert not isinstance(body, list) and pulled == []  # nothing read ahead
    assert b"".join(body) == b"012"
