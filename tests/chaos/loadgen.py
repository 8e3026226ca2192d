"""The load generator, run in its own process: ``python -m tests.chaos.loadgen SPEC.json``.

Threads post tasks over plain ``http.client`` to the API on 127.0.0.1, bounded in count and in
time. Every 202 is appended to the output file as ``A <id> <task>`` (flushed at once, so the
file holds every acknowledgement even if this process dies); every other answer or connection
error as ``E <status or error name>``. The spec (JSON) gives the port, the key, the number of
tasks, the deadline, the thread count, the pace and the mix of bodies to post.
"""

from __future__ import annotations

import http.client
import itertools
import json
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

TIMEOUT = 10.0


class Output:
    def __init__(self, sink: TextIO) -> None:
        self._sink = sink
        self._lock = threading.Lock()

    def line(self, text: str) -> None:
        with self._lock:
            self._sink.write(text + "\n")
            self._sink.flush()


def body_for(n: int, spec: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """Request ``n``'s body: ``mix[pattern[n % len(pattern)]]`` when the spec has a pattern,
    else a pick from ``mix`` by weight; ``work`` and ``awork`` tasks get their number."""
    mix: list[dict[str, Any]] = spec["mix"]
    pattern: list[int] | None = spec.get("pattern")
    if pattern:
        choice = mix[pattern[n % len(pattern)]]
    else:
        choice = rng.choices(mix, weights=[item.get("weight", 1) for item in mix])[0]
    body = dict(choice["body"])
    if body["task"] in ("work", "awork"):
        body["args"] = {**body.get("args", {}), "n": n}
    return body


def post(conn: http.client.HTTPConnection, key: str, body: dict[str, Any]) -> tuple[int, str]:
    payload = json.dumps(body)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    conn.request("POST", "/v1/tasks", body=payload, headers=headers)
    response = conn.getresponse()
    data = response.read()
    if response.status != 202:
        return response.status, ""
    return 202, str(json.loads(data)["id"])


def run_thread(spec: dict[str, Any], counter: itertools.count[int], out: Output, seed: int) -> None:
    rng = random.Random(seed)
    deadline = time.monotonic() + spec["seconds"]
    pause = spec.get("pause", 0.0)
    conn: http.client.HTTPConnection | None = None
    while time.monotonic() < deadline:
        n = next(counter)
        if n >= spec["count"]:
            break
        body = body_for(n, spec, rng)
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", spec["port"], timeout=TIMEOUT)
        try:
            status, task_id = post(conn, spec["key"], body)
        except (OSError, http.client.HTTPException) as exc:
            out.line(f"E {type(exc).__name__}")
            conn.close()
            conn = None
            time.sleep(0.05)
            continue
        out.line(f"A {task_id} {body['task']}" if status == 202 else f"E {status}")
        if status != 202:
            time.sleep(0.1)  # 503 / 429: back off a little, as a client honouring Retry-After
        time.sleep(pause * rng.uniform(0.5, 1.5))
    if conn is not None:
        conn.close()


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[1]).read_text())
    counter = itertools.count()
    with open(spec["out"], "a") as sink:
        out = Output(sink)
        threads = [
            threading.Thread(target=run_thread, args=(spec, counter, out, i), daemon=True)
            for i in range(spec.get("threads", 4))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(spec["seconds"] + TIMEOUT + 5)
        out.line("D")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
