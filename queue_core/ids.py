"""Task ids: UUIDv7 (RFC 9562), time-ordered, so that new tasks' index entries go to the end
of the primary key (and of the indexes ending in ``id``) instead of anywhere in it.

Layout, most significant bit first: 48 bits of Unix time in milliseconds, the version (7),
12 bits ``rand_a``, the variant (binary 10), 62 bits ``rand_b``. The 74 bits of ``rand_a`` and
``rand_b`` are drawn from the operating system's CSPRNG (as :func:`uuid.uuid4`'s 122 are), for
each id afresh, never counted on from the last one: an id tells nothing useful of the next.
Within one process ids still only grow (RFC 9562 section 6.2, method 2, "monotonic random",
its increment drawn from all the values left): the ids of one call are sorted, and a call in
the same millisecond as the last one (or after the clock stepped back) draws above the last
id, moving on to the next millisecond when fewer than 2**64 values are left above it; so every
id keeps at least 64 unpredictable bits. Ids of different processes made in the same
millisecond are ordered by their random bits.

Nothing relies on ids being secret: every read or change of a task matches its tenant
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
_RANDOM_SPACE = 1 << _RANDOM_BITS
_RANDOM_B_MASK = (1 << _RANDOM_B_BITS) - 1
_VERSION_AND_VARIANT = (0x7 << 76) | (0b10 << 62)
#: A millisecond is left when fewer values than this remain above its last id.
_LEAST_SPACE = 1 << 64
_DRAW_BYTES = 12  # 96 bits a draw, reduced into the space left: a bias below 2**-22

_lock = threading.Lock()
_last_ms = 0
_last_random = -1  # the random bits of the last id made (-1: none in _last_ms)


def uuid7s(n: int) -> list[uuid.UUID]:
    """``n`` new UUIDv7 in ascending order, each greater than every id this process made."""
    ms, bits = _draw(n)
    while len(set(bits)) < n:  # two equal draws: at worst about 1 in 2**38 for 10,000 ids
        ms, bits = _draw(n)
    stamp = (ms << 80) | _VERSION_AND_VARIANT
    return [_uuid(stamp | ((b >> _RANDOM_B_BITS) << 64) | (b & _RANDOM_B_MASK)) for b in bits]


def _from_int(value: int) -> uuid.UUID:
    """``uuid.UUID(int=value)`` for a value known to fit 128 bits, without the checks of the
    constructor (half its cost): Python 3.14's ``UUID._from_int``, which does just this."""
    made = _new(uuid.UUID)
    _set(made, "int", value)
    _set(made, "is_safe", _UNKNOWN)
    return made


_new = object.__new__
_set = object.__setattr__  # UUID refuses attribute assignment (it is immutable)
_UNKNOWN = uuid.SafeUUID.unknown
_uuid = getattr(uuid.UUID, "_from_int", _from_int)


def _draw(n: int) -> tuple[int, list[int]]:
    """The millisecond and the sorted random bits of ``n`` ids, the process's last id moved."""
    global _last_ms, _last_random
    draws = os.urandom(_DRAW_BYTES * n)
    size = _DRAW_BYTES
    with _lock:
        ms = time.time_ns() // 1_000_000
        low = 0
        if ms <= _last_ms:  # this millisecond again (or the clock stepped back): above the last
            ms, low = _last_ms, _last_random + 1
        if _RANDOM_SPACE - low < _LEAST_SPACE:
            ms, low = ms + 1, 0
        space = _RANDOM_SPACE - low
        bits = sorted(
            low + int.from_bytes(draws[i : i + size]) % space for i in range(0, size * n, size)
        )
        _last_ms, _last_random = ms, bits[-1]
    return ms, bits


def uuid7() -> uuid.UUID:
    """One new UUIDv7 (see :func:`uuid7s`)."""
    return uuid7s(1)[0]


def _forget_after_fork() -> None:
    """A forked child has a lock of its own: another thread may have held its parent's at the
    fork. (Its ids go on above its parent's last one, each drawn afresh as always.)"""
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)
