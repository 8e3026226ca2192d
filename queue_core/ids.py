"""Task ids: UUIDv7 (RFC 9562), time-ordered, so that new tasks' index entries go to the end
of the primary key (and of the indexes ending in ``id``) instead of anywhere in it.

Layout, most significant bit first: 48 bits of Unix time in milliseconds, the version (7),
12 bits ``rand_a``, the variant (binary 10), 62 bits ``rand_b``; the 74 bits of ``rand_a`` and
``rand_b`` come from the operating system's CSPRNG (as :func:`uuid.uuid4`'s do). Within one
process ids only grow (RFC 9562 section 6.2, method 2): an id made in the same millisecond as
the last one, or after the clock stepped back, is the last one's 74 bits plus a random step of
1 to 2**32, carried into the time if they overflow. Ids of different processes made in the same
millisecond are ordered by their random bits (a forked child draws afresh).

Nothing relies on ids being unguessable: every read or change of a task matches its tenant
(queue_core/sql/get.sql, cancel.sql, ...) and a worker's writes its lease token. An id shows
when its task was enqueued, which ``created_at`` shows anyway.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

_RANDOM_BITS = 74
_RANDOM_B_BITS = 62
_RANDOM_MASK = (1 << _RANDOM_BITS) - 1
_RANDOM_B_MASK = (1 << _RANDOM_B_BITS) - 1
_VERSION_AND_VARIANT = (0x7 << 76) | (0b10 << 62)
_STEP_SHIFT = _RANDOM_BITS - 32  # a step is 1 + the top 32 of a fresh draw's bits

_lock = threading.Lock()
_last_ms = 0
_last_random = 0


def uuid7s(n: int) -> list[uuid.UUID]:
    """``n`` new UUIDv7, each greater than every id this process made before it."""
    global _last_ms, _last_random
    draws = os.urandom(10 * n)  # 80 bits a draw, 74 of them used
    values = []
    with _lock:
        ms, last = _last_ms, _last_random
        now = time.time_ns() // 1_000_000
        for i in range(n):
            bits = int.from_bytes(draws[10 * i : 10 * i + 10]) & _RANDOM_MASK
            if now > ms:
                ms = now
            else:  # this millisecond (or a later one, the clock having stepped back) again
                bits = last + 1 + (bits >> _STEP_SHIFT)
                ms += bits >> _RANDOM_BITS
                bits &= _RANDOM_MASK
            last = bits
            values.append(
                (ms << 80)
                | ((bits >> _RANDOM_B_BITS) << 64)
                | _VERSION_AND_VARIANT
                | (bits & _RANDOM_B_MASK)
            )
        _last_ms, _last_random = ms, last
    return [uuid.UUID(int=value) for value in values]


def uuid7() -> uuid.UUID:
    """One new UUIDv7 (see :func:`uuid7s`)."""
    return uuid7s(1)[0]


def _forget_after_fork() -> None:
    """A forked child starts afresh: its own lock (another thread may have held its parent's
    at the fork), and no last id, so that its first ids draw all their random bits instead of
    stepping from the parent's last one as the parent's next ids do."""
    global _lock, _last_ms, _last_random
    _lock = threading.Lock()
    _last_ms = _last_random = 0


os.register_at_fork(after_in_child=_forget_after_fork)
