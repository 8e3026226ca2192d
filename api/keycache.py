"""API keys a process verified lately, so that the enqueue routes need not look them up."""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Generic, TypeVar

T = TypeVar("T")


class VerifiedKeys(Generic[T]):
    """What each API key verified lately resolved to (a principal), by a digest of the token.

    Only for callers that have the database re-check the key where it matters (an enqueue
    passes ``key_id`` to queue_core, whose INSERT writes nothing for a revoked key). A key's
    tenant, scopes and queues never change; only revocation does. Bounded in age and size.
    """

    MAX_AGE = 300.0
    MAX_KEYS = 10_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: dict[bytes, tuple[float, T]] = {}

    def get(self, token: str) -> T | None:
        found = self._known.get(_digest(token))
        if found is None or time.monotonic() - found[0] > self.MAX_AGE:
            return None
        return found[1]

    def put(self, token: str, value: T) -> None:
        with self._lock:
            if len(self._known) >= self.MAX_KEYS:
                self._known.clear()
            self._known[_digest(token)] = (time.monotonic(), value)

    def forget(self, token: str) -> None:
        with self._lock:
            self._known.pop(_digest(token), None)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
