"""Pure logic of the read side's fast paths: running-distribution quantiles equal the
merged histogram's, and rows built by ``fast_rows`` are ordinary frozen rows."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import pickle
import struct
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lib_analytics_core.read import cumulative as cum
from lib_analytics_core.read import histogram as h
from lib_analytics_core.read._common import fast_rows
from lib_analytics_core.read.latency import ApiLatencyRow
from lib_analytics_core.read.queries import ErrorRow
from lib_analytics_core.read.questions import EventTrendRow

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
QS = (0.5, 0.95, 0.99, 0.001, 1.0)
keys_st = st.sampled_from([h.ZERO_KEY, *range(h.MIN_KEY, h.MIN_KEY + 5), *range(-20, 400, 7)])
day_st = st.dictionaries(keys_st, st.integers(1, 50), max_size=12)


def _encode(hist: dict[int, int]) -> tuple[bytes, bytes]:
    """A running row as migration 0007 stores it (int2/int8 in network byte order)."""
    keys = sorted(hist)
    running = list(itertools.accumulate(hist[k] for k in keys))
    return struct.pack(f">{len(keys)}h", *keys), struct.pack(f">{len(keys)}q", *running)


def _prefix(days: list[dict[int, int]], upto: int) -> dict[int, int]:
    out: dict[int, int] = {}
    for d in days[:upto]:
        for k, c in d.items():
            out[k] = out.get(k, 0) + c
    return out


@settings(max_examples=300, deadline=None)
@given(
    days=st.lists(day_st, min_size=1, max_size=8),
    cut=st.data(),
    edge=st.lists(day_st, max_size=3),
)
def test_running_quantiles_equal_the_merged_histogram(
    days: list[dict[int, int]], cut: st.DataObject, edge: list[dict[int, int]]
) -> None:
    """For any whole-day range [a, b) plus edge-hour histograms, C(b-1) - C(a-1) + edges
    gives the percentile keys of merging every histogram in the range."""
    a = cut.draw(st.integers(0, len(days) - 1))
    b = cut.draw(st.integers(a + 1, len(days)))
    hi, lo = _prefix(days, b), _prefix(days, a)
    terms = []
    if hi:
        terms.append(cum.decode(*_encode(hi)))
        if lo:
            terms.append(cum.decode(*_encode(lo), -1))
    pieces = [(sorted(d), [d[k] for k in sorted(d)]) for d in (*days[a:b], *edge)]
    edge_pieces = [(sorted(d), [d[k] for k in sorted(d)]) for d in edge]
    if edge_pieces:
        terms.append(cum.from_histogram(*h.merge(edge_pieces)))
    want = h.percentile_keys(*h.merge(pieces), QS)
    assert cum.quantile_keys(terms, QS) == want


def test_empty_terms_have_no_quantile() -> None:
    assert cum.quantile_keys([], (0.5,)) == [None]
    t = cum.decode(*_encode({3: 2}))
    assert cum.quantile_keys([t, cum.decode(*_encode({3: 2}), -1)], (0.5, 0.99)) == [None, None]


@pytest.mark.parametrize(
    ("cls", "values"),
    [
        (
            ApiLatencyRow,
            (
                dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
                "s",
                None,
                "GET",
                5,
                5.0,
                1,
                0,
                0.2,
                3.0,
                1.0,
                2.0,
                None,
                4,
            ),
        ),
        (ErrorRow, (dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "s", "E", 3, None)),
        (EventTrendRow, (dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "invoice_paid", "s", 3, 2)),
    ],
)
def test_fast_rows_build_ordinary_frozen_rows(cls: Any, values: tuple[object, ...]) -> None:
    names = [f.name for f in dataclasses.fields(cls)]
    want = cls(**dict(zip(names, values, strict=True)))
    got = fast_rows(cls)(*values)
    assert type(got) is cls
    assert got == want and hash(got) == hash(want) and repr(got) == repr(want)
    assert pickle.loads(pickle.dumps(got)) == want
    assert msgspec.json.encode(got) == msgspec.json.encode(want)
    assert dataclasses.asdict(got) == dataclasses.asdict(want)
    with pytest.raises(dataclasses.FrozenInstanceError):
        got.service = "other"


def test_build_rows_pauses_the_collector_and_restores_it() -> None:
    """build_rows builds the same rows as the plain loop, with the cyclic collector off
    while it runs and back in the state it found, also when a row fails."""
    import gc

    from lib_analytics_core.read._common import build_rows

    seen: list[bool] = []

    def make(*fields: object) -> tuple[object, ...]:
        seen.append(gc.isenabled())
        if fields == ("boom",):
            raise ValueError("boom")
        return fields

    assert gc.isenabled()
    assert build_rows(make, [(1, 2), (3, 4)]) == [(1, 2), (3, 4)]
    assert seen == [False, False] and gc.isenabled()
    with pytest.raises(ValueError, match="boom"):
        build_rows(make, [("boom",)])
    assert gc.isenabled()
    gc.disable()
    try:
        build_rows(make, [(5,)])
        assert not gc.isenabled()  # left disabled as found
    finally:
        gc.enable()


def test_fast_rows_epoch_field_equals_the_decoded_datetime() -> None:
    """A bucket sent as epoch seconds (``epoch_sql``) becomes the same UTC datetime
    asyncpg would have decoded: equal, same tzinfo, same JSON."""
    from lib_analytics_core.read._common import from_epoch

    make = fast_rows(ErrorRow, epoch="hour")
    for when in (T0, T0 + dt.timedelta(hours=5), dt.datetime(1999, 12, 31, 23, tzinfo=dt.UTC)):
        seconds = int((when - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)).total_seconds())
        got = make(seconds, "auth", "DbError", 3, None)
        want = ErrorRow(
            hour=when, service="auth", error_type="DbError", errors=3, sample_message=None
        )
        assert got == want and got.hour.tzinfo is dt.UTC
        assert msgspec.json.encode(got) == msgspec.json.encode(want)
        assert from_epoch(seconds) is from_epoch(seconds)  # built once per bucket
