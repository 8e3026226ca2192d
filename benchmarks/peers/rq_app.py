"""The HTTP peer: a minimal Flask endpoint that enqueues into RQ on Redis and answers 202.

What a team would otherwise write: no authentication, no validation beyond JSON parsing, no
idempotency, no durable commit (Redis acknowledges from memory). Served by gunicorn from the
benchmark venv exactly as ``taskrow api`` serves taskrow (same worker count, gthread):

    REDIS_URL=redis://127.0.0.1:6379/0 gunicorn -w 2 -k gthread --threads 16 rq_app:app
"""

from __future__ import annotations

import os

from flask import Flask, jsonify, request
from redis import Redis
from rq import Queue

app = Flask(__name__)
queue = Queue(
    "bench", connection=Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
)


def noop() -> None:
    """The job's function (never run here: the benchmark measures the enqueue)."""


@app.post("/v1/tasks")
def enqueue():  # type: ignore[no-untyped-def]
    body = request.get_json()
    job = queue.enqueue(noop, kwargs=body.get("args") or {})
    return jsonify({"id": job.id, "state": "queued"}), 202, {"Location": f"/v1/tasks/{job.id}"}
