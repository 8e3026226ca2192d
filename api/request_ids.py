"""Request ids: every request gets one, echoed in ``X-Request-ID`` and in problem+json bodies,
and appended to every log line written while the request runs (:class:`RequestIdFilter`).

A client's own ``X-Request-ID`` is kept when well-formed (1 to 128 characters of letters,
digits and ``-_.:@/+=``); otherwise (absent, too long, anything else) a new one is made, so a
log line never carries a client's arbitrary text.
"""

from __future__ import annotations

import logging
import re
import uuid

from flask import Flask, Response, g, has_request_context, request

HEADER = "X-Request-ID"
_WELL_FORMED = re.compile(r"[A-Za-z0-9\-_.:@/+=]{1,128}")


def init_app(app: Flask) -> None:
    app.before_request(_assign)
    app.after_request(_echo)


def current() -> str | None:
    """This request's id (None outside a request, or before it was assigned)."""
    if not has_request_context():
        return None
    found: str | None = g.get("taskrow_request_id")
    return found


def _assign() -> None:
    given = request.headers.get(HEADER)
    well_formed = given is not None and _WELL_FORMED.fullmatch(given) is not None
    g.taskrow_request_id = given if well_formed else uuid.uuid4().hex


def _echo(response: Response) -> Response:
    found = current()
    if found is not None:
        response.headers[HEADER] = found
    return response


class RequestIdFilter(logging.Filter):
    """Appends ``request_id=…`` to each record logged during a request (and adds it to the
    JSON fields). Put it on a handler: ``handler.addFilter(api.RequestIdFilter())``."""

    def filter(self, record: logging.LogRecord) -> bool:
        found = current()
        if found is None or hasattr(record, "request_id") or not isinstance(record.msg, str):
            return True
        record.request_id = found
        if isinstance(record.args, tuple):
            text = record.msg if record.args else record.msg.replace("%", "%%")
            record.msg = text + " request_id=%s"
            record.args = (*record.args, found)
        fields = getattr(record, "fields", None)
        record.fields = {**(fields if isinstance(fields, dict) else {}), "request_id": found}
        return True
