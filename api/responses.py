"""The app's response class: a body built in memory goes to the WSGI server as one list.

Werkzeug hands every body to the server as an iterator (a generator in a ClosingIterator),
even one already held in memory. granian then pulls it chunk by chunk through its iterator
path, which costs about a third of a worker's GIL time on ``POST /v1/tasks``; given a list, it
writes the bytes in one call. Streamed bodies (a generator, a file) stay iterators.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Response as FlaskResponse

_NO_BODY = frozenset({204, 304})


class Response(FlaskResponse):
    def get_app_iter(self, environ: dict[str, Any]) -> Iterable[bytes]:
        if not self.is_sequence or self.direct_passthrough:
            return super().get_app_iter(environ)
        status = self.status_code
        if environ["REQUEST_METHOD"] == "HEAD" or 100 <= status < 200 or status in _NO_BODY:
            body: list[bytes] = []
        else:
            body = list(self.iter_encoded())
        self.close()  # nothing is left to stream: what close() would do, done now
        return body
