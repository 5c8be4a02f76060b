"""The encoder's fast paths produce exactly what the straightforward code would."""

from __future__ import annotations

import datetime as dt
import random
import uuid

import msgspec
import pytest

from lib_analytics_core.ingest.ids import _timestamp, _uuid_from_int, uuid7

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def test_timestamp_fast_path_equals_epoch_plus_timedelta() -> None:
    rng = random.Random(7)
    # 1900 .. 2200, nanosecond resolution, plus the edges of a microsecond.
    samples = [rng.randrange(-2_208_988_800 * 10**9, 7_258_118_400 * 10**9) for _ in range(200_000)]
    base = 1_780_000_000_123_456_000
    samples += [base + d for d in (-1001, -1000, -999, -1, 0, 1, 499, 500, 501, 999, 1000)]
    for ns in samples:
        expected = _EPOCH + dt.timedelta(microseconds=ns // 1000)
        got = _timestamp(ns)
        assert got == expected, ns
        assert got.tzinfo is not None and got.utcoffset() == dt.timedelta(0)


def test_timestamp_out_of_range_raises_like_before() -> None:
    too_big = (dt.datetime.max.replace(tzinfo=dt.UTC) - _EPOCH) // dt.timedelta(microseconds=1)
    ns = (too_big + 10**12) * 1000
    with pytest.raises(OverflowError):
        _EPOCH + dt.timedelta(microseconds=ns // 1000)
    with pytest.raises(OverflowError):
        _timestamp(ns)


def test_fast_uuid_behaves_like_uuid() -> None:
    rng = random.Random(3)
    for _ in range(1_000):
        value = rng.getrandbits(128)
        fast = _uuid_from_int(value)
        plain = uuid.UUID(int=value)
        assert isinstance(fast, uuid.UUID)
        assert fast == plain and hash(fast) == hash(plain) and str(fast) == str(plain)
        assert fast.int == value and fast.bytes == plain.bytes
        assert msgspec.json.encode(fast) == msgspec.json.encode(plain)
        assert msgspec.msgpack.decode(msgspec.msgpack.encode(fast), type=uuid.UUID) == plain


def test_uuid7_fields() -> None:
    ns = 1_780_000_000_123_456_789
    u = uuid7(ns)
    assert isinstance(u, uuid.UUID)
    assert u.version == 7 and u.variant == uuid.RFC_4122
    assert u.int >> 80 == ns // 1_000_000


def test_uuid7_is_strictly_increasing_across_threads() -> None:
    """Issue 13: the per-process counter was read and written without a lock, so two
    threads could draw the same time prefix (ids no longer strictly ordered)."""
    import itertools
    import sys
    import threading
    import time

    per_thread = 20_000
    results: list[list[uuid.UUID]] = [[] for _ in range(4)]
    barrier = threading.Barrier(len(results))

    def work(out: list[uuid.UUID]) -> None:
        barrier.wait()
        now = time.time_ns
        out.extend(uuid7(now()) for _ in range(per_thread))

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        threads = [threading.Thread(target=work, args=(out,)) for out in results]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    for out in results:
        assert all(a.int >> 64 < b.int >> 64 for a, b in itertools.pairwise(out))
    prefixes = [u.int >> 64 for out in results for u in out]
    assert len(set(prefixes)) == len(prefixes), "two ids share a time prefix"
