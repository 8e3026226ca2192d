"""The contract through a real `taskrow api` (gunicorn, gthread workers) over a socket."""

from __future__ import annotations

import concurrent.futures
import select
import socket
import uuid

import requests
from sqlalchemy.engine import Engine

import queue_core

from .conftest import CheckedSession, MakeKey, bearer, count_tasks


def post(server: CheckedSession, key: str, body: object, **headers: str) -> requests.Response:
    return server.post("/v1/tasks", json=body, headers={**bearer(key), **headers})


def claim(engine: Engine, queue: str = "default") -> queue_core.Task:
    with engine.begin() as conn:
        [task] = queue_core.claim(conn, [queue], 1, worker_id="server-test")
    return task


def test_every_contract_row_over_a_socket(
    server: CheckedSession, make_key: MakeKey, engine: Engine
) -> None:
    key, stranger = make_key(tenant="acme"), make_key(tenant="globex")
    reader = make_key(tenant="acme", scopes=["read"])
    # accepted: 202 + Location + Link monitor + Retry-After, body = status record
    accepted = post(server, key, {"task": "send_email", "args": {"to": "a@b.c"}, "queue": "main"})
    assert accepted.status_code == 202
    url = accepted.headers["Location"]
    assert accepted.headers["Link"] == f'<{url}>; rel="monitor"'
    assert accepted.headers["Retry-After"] and accepted.json()["state"] == "queued"
    # idempotency: replay 202 with the original, different body 422
    first = post(server, key, {"task": "t"}, **{"Idempotency-Key": "once"})
    again = post(server, key, {"task": "t"}, **{"Idempotency-Key": "once"})
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json()["id"] == first.json()["id"]
    assert post(server, key, {"task": "u"}, **{"Idempotency-Key": "once"}).status_code == 422
    # poll while queued / running
    queued = server.get(url, headers=bearer(key))
    assert queued.status_code == 200 and queued.headers["Retry-After"]
    assert queued.headers["Cache-Control"] == "no-store"
    task = claim(engine, "main")
    assert str(task.id) == accepted.json()["id"]
    running = server.get(url, headers=bearer(key))
    assert running.json()["state"] == "running" and running.json()["attempt"] == 1
    # result 404 before; poll 303 when succeeded; result 200
    assert server.get(f"{url}/result", headers=bearer(key)).status_code == 404
    with engine.begin() as conn:
        queue_core.complete(conn, task.lease, {"ok": 1})
    done = server.get(url, headers=bearer(key))
    assert done.status_code == 303 and done.headers["Location"] == f"{url}/result"
    assert server.get(done.headers["Location"], headers=bearer(key)).json()["result"] == {"ok": 1}
    # cancel: 200 queued, 202 running, 409 finished; poll when cancelled / dead
    assert server.delete(url, headers=bearer(key)).status_code == 409
    cancel_url = post(server, key, {"task": "c"}).headers["Location"]
    assert server.delete(cancel_url, headers=bearer(key)).status_code == 200
    assert server.get(cancel_url, headers=bearer(key)).json()["error"] is not None
    dead_url = post(server, key, {"task": "d", "queue": "d"}).headers["Location"]
    dying = claim(engine, "d")
    assert server.delete(dead_url, headers=bearer(key)).status_code == 202
    with engine.begin() as conn:
        queue_core.fail(conn, queue_core.Failure(dying.lease, "E", "boom"))
    assert server.get(dead_url, headers=bearer(key)).json()["state"] == "cancelled"
    # unknown id, another tenant's task: 404
    assert server.get(f"/v1/tasks/{uuid.uuid4()}", headers=bearer(key)).status_code == 404
    assert server.get(url, headers=bearer(stranger)).status_code == 404
    # 400, 415, 422, 401, 403, 405 + Allow
    raw = {**bearer(key), "Content-Type": "application/json"}
    assert server.post("/v1/tasks", data=b"{", headers=raw).status_code == 400
    plain = {**bearer(key), "Content-Type": "text/plain"}
    assert server.post("/v1/tasks", data=b"{}", headers=plain).status_code == 415
    assert post(server, key, {"task": "t", "queue": "A B"}).json()["errors"][0]["field"] == "queue"
    assert server.get("/v1/queues").status_code == 401
    assert post(server, reader, {"task": "t"}).status_code == 403
    wrong = server.put("/v1/tasks", headers=bearer(key))
    assert wrong.status_code == 405 and "POST" in wrong.headers["Allow"]
    # 429 + Retry-After past the queue depth limit (20 in this server)
    with engine.begin() as conn:
        queue_core.enqueue_many(conn, [queue_core.NewTask("t", queue="full")] * 20, tenant="acme")
    busy = post(server, key, {"task": "t", "queue": "full"})
    assert busy.status_code == 429 and busy.headers["Retry-After"]
    # dead task polled: 200 with the error; then re-driven
    with engine.begin() as conn:
        redo = queue_core.enqueue(conn, "r", queue="redo", max_attempts=1, tenant="acme")
    with engine.begin() as conn:
        [claimed] = queue_core.claim(conn, ["redo"], 1, worker_id="w")
        queue_core.fail(conn, queue_core.Failure(claimed.lease, "KeyError", "missing"))
    dead = server.get(f"/v1/tasks/{redo.id}", headers=bearer(key))
    assert dead.status_code == 200 and dead.json()["error"]["type"] == "KeyError"
    assert server.post(f"/v1/tasks/{redo.id}/retry", headers=bearer(key)).status_code == 202


def test_twenty_concurrent_posts_with_one_idempotency_key_make_one_task(
    server: CheckedSession, key: str, engine: Engine
) -> None:
    def send(_: int) -> requests.Response:
        return post(
            server,
            key,
            {"task": "charge", "args": {"cents": 100}},
            **{"Idempotency-Key": "order-42"},
        )

    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(send, range(20)))
    assert {r.status_code for r in responses} == {202}
    assert len({r.json()["id"] for r in responses}) == 1
    assert count_tasks(engine) == 1


def send_chunked(base: str, key: str, total: int) -> tuple[bytes, int]:
    """POST a chunked body of ``total`` bytes over a raw socket, stopping as soon as an answer
    arrives; returns the answer's head and how many body bytes were sent."""
    host, port = base.removeprefix("http://").split(":")
    head = (
        f"POST /v1/tasks HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    piece = b"a" * 65536
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    sent = 0
    with socket.create_connection((host, int(port)), timeout=20) as sock:
        sock.sendall(head.encode() + b'6\r\n{"a":"\r\n')
        try:
            while sent < total and not select.select([sock], [], [], 0)[0]:
                sock.sendall(chunk)
                sent += len(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed: its answer is still readable
        answer = sock.recv(65536)
    return answer, sent


def test_a_chunked_body_past_the_limit_is_413_before_it_is_all_sent(
    server: CheckedSession, key: str, engine: Engine
) -> None:
    answer, sent = send_chunked(server.base, key, total=50 * 1024 * 1024)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"application/problem+json" in answer
    assert sent < 20 * 1024 * 1024  # read with a cap: the server did not wait for the rest
    small = server.post(
        "/v1/tasks",
        data=iter([b'{"task": "t", ', b'"args": {"x": "' + b"a" * 65536 + b'"}}']),
        headers={**bearer(key), "Content-Type": "application/json"},
    )
    assert small.status_code == 202
    assert small.request.headers.get("Transfer-Encoding") == "chunked"
    assert count_tasks(engine) == 1
