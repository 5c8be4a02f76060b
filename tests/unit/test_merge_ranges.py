"""``schema._ranges.merge_ranges``, the one range merge of the daily and weekly refresh:
checked against the plain definition (the set of covered hours) over generated ranges."""

from __future__ import annotations

import datetime as dt
import itertools

from hypothesis import given
from hypothesis import strategies as st

from lib_analytics_core.schema._ranges import merge_ranges

T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)

ranges = st.lists(
    st.tuples(st.integers(0, 200), st.integers(1, 50)).map(
        lambda p: (T0 + p[0] * HOUR, T0 + (p[0] + p[1]) * HOUR)
    ),
    max_size=12,
)


def _hours(rs: list[tuple[dt.datetime, dt.datetime]]) -> set[int]:
    return {h for lo, hi in rs for h in range((lo - T0) // HOUR, (hi - T0) // HOUR)}


@given(ranges)
def test_merged_ranges_cover_the_same_hours_sorted_and_apart(
    rs: list[tuple[dt.datetime, dt.datetime]],
) -> None:
    merged = merge_ranges(rs)
    assert _hours(merged) == _hours(rs)
    for (_, hi), (lo, _) in itertools.pairwise(merged):
        assert hi < lo  # touching ranges are joined too
    assert all(lo < hi for lo, hi in merged)


def test_touching_ranges_become_one() -> None:
    a, b, c = T0, T0 + HOUR, T0 + 2 * HOUR
    assert merge_ranges([(b, c), (a, b)]) == [(a, c)]
    assert merge_ranges([]) == []
