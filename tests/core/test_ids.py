"""Task ids are UUIDv7 (RFC 9562): the time in front, version 7, the variant bits, random bits
drawn afresh for each id, and ids of one process always growing (within a millisecond, across
a clock step back, when a millisecond's values run short)."""

from __future__ import annotations

import copy
import itertools
import os
import pickle
import select
import signal
import time
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

import queue_core
from queue_core import NewTask, ids


@pytest.fixture
def saved_state() -> Iterator[None]:
    """The generator's last id as it was before the test (tests below move it)."""
    last = ids._last_ms, ids._last_random
    yield
    ids._last_ms, ids._last_random = last


def fields(value: uuid.UUID) -> tuple[int, int, int, int]:
    """(unix_ts_ms, version, variant bits, the 74 random bits) of a UUIDv7."""
    n = value.int
    rand_a, rand_b = (n >> 64) & 0xFFF, n & ((1 << 62) - 1)
    return n >> 80, (n >> 76) & 0xF, (n >> 62) & 0b11, (rand_a << 62) | rand_b


def test_layout_is_rfc_9562_version_7() -> None:
    before = time.time_ns() // 1_000_000
    made = ids.uuid7s(1000)
    after = time.time_ns() // 1_000_000
    for value in made:
        ms, version, variant, _ = fields(value)
        assert (version, variant) == (7, 0b10)
        assert (value.version, value.variant) == (7, uuid.RFC_4122)
        assert before <= ms <= after + 1  # +1: a millisecond's ids may spill into the next
    assert str(made[0])[14] == "7" and str(made[0])[19] in "89ab"
    assert len({fields(value)[3] for value in made}) == 1000


def test_ids_grow_within_a_millisecond_and_across_calls() -> None:
    made = ids.uuid7s(5000) + [ids.uuid7() for _ in range(2000)] + ids.uuid7s(3)
    assert made == sorted(made) and len(set(made)) == len(made)
    same_ms = [b for a, b in itertools.pairwise(made) if fields(a)[0] == fields(b)[0]]
    assert len(same_ms) > 100  # the stepping was exercised


def test_ids_keep_growing_when_the_clock_steps_back(saved_state: None) -> None:
    ahead = time.time_ns() // 1_000_000 + 60_000  # the last id was made a minute "later"
    ids._last_ms, ids._last_random = ahead, 12345
    made = ids.uuid7s(100)
    assert fields(made[0])[0] == ahead and fields(made[0])[3] > 12345
    assert made == sorted(made)


def test_a_nearly_spent_millisecond_moves_on_to_the_next(saved_state: None) -> None:
    ahead = time.time_ns() // 1_000_000 + 60_000
    ids._last_ms, ids._last_random = ahead, (1 << 74) - (1 << 65)  # 2**65 values left: stays
    stays = ids.uuid7s(3)
    assert all(fields(value)[0] == ahead for value in stays)
    assert all(fields(value)[3] > (1 << 74) - (1 << 65) for value in stays)
    ids._last_ms, ids._last_random = ahead, (1 << 74) - (1 << 63)  # fewer than 2**64: moves on
    moved = ids.uuid7s(3)
    assert [fields(value)[0] for value in moved] == [ahead + 1] * 3
    assert stays + moved == sorted(stays + moved)
    assert all(fields(value)[1:3] == (7, 0b10) for value in stays + moved)


def test_each_id_is_drawn_afresh_not_counted_on() -> None:
    """The next id of the same millisecond is no small step from the last one: knowing an id
    tells nothing useful of the next (it is drawn from at least 2**64 values above it; one in
    2**32 of them lies within 2**32 of it)."""
    made = [ids.uuid7() for _ in range(2000)]
    close = [
        (a, b)
        for a, b in itertools.pairwise(made)
        if fields(a)[0] == fields(b)[0] and fields(b)[3] - fields(a)[3] < 1 << 32
    ]
    assert close == []


def test_a_child_forked_while_another_thread_makes_ids_can_make_its_own() -> None:
    read, write = os.pipe()
    with ids._lock:  # as if another thread were making ids at the fork
        pid = os.fork()
        if pid == 0:  # the child: its first id, then leave at once
            try:
                os.write(write, str(ids.uuid7()).encode())
            finally:
                os._exit(0)
    os.close(write)
    try:
        ready, _, _ = select.select([read], [], [], 30)
        assert ready, "the child's uuid7() waited on its parent's lock"
        child_id = uuid.UUID(os.read(read, 100).decode())
    finally:
        os.close(read)
        if not ready:
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert child_id.version == 7 and child_id != ids.uuid7()


def test_enqueued_tasks_get_ordered_v7_ids(engine: Engine) -> None:
    with engine.begin() as conn:
        one = queue_core.enqueue(conn, "t")
        many = queue_core.enqueue_many_ids(conn, [NewTask("t")] * 300)
        listed = [task.id for task in queue_core.enqueue_many(conn, [NewTask("t")] * 3)]
    assert one.id.version == 7
    assert [one.id, *many, *listed] == sorted([one.id, *many, *listed])


def test_the_ids_are_ordinary_uuids() -> None:
    """Built without the constructor's checks, each id is what ``UUID(int=...)`` makes."""
    for made in ids.uuid7s(50):
        plain = uuid.UUID(int=made.int)
        assert type(made) is uuid.UUID and made == plain and hash(made) == hash(plain)
        assert (str(made), made.bytes, made.is_safe) == (str(plain), plain.bytes, plain.is_safe)
        assert pickle.loads(pickle.dumps(made)) == plain and copy.deepcopy(made) == plain
        assert uuid.UUID(str(made)) == made and {made: 1}[plain] == 1
    with pytest.raises(TypeError):
        made.int = 0  # type: ignore[misc]  # as immutable as any UUID
