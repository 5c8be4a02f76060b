"""The encoder's fast paths produce exactly what the straightforward code would."""

from __future__ import annotations

import datetime as dt
import random
import uuid

import msgspec
import pytest

from lib_analytics_core.ingest.encoding import _timestamp, _uuid_from_int, uuid7

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
