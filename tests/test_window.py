"""The one definition of "the last N days" (read/window.py), pinned so it cannot drift."""

from __future__ import annotations

import datetime as dt

import pytest

from lib_analytics_core import QueryError
from lib_analytics_core.read import window
from lib_analytics_core.read.window import check_bounds, last_days

UTC = dt.UTC


@pytest.mark.parametrize(
    ("now", "days", "start", "end"),
    [
        # whole UTC days ending with today, today included
        (dt.datetime(2026, 11, 30, 15, 0, tzinfo=UTC), 30, "2026-11-01", "2026-12-01"),
        (dt.datetime(2026, 11, 30, 0, 0, tzinfo=UTC), 1, "2026-11-30", "2026-12-01"),
        (dt.datetime(2026, 11, 30, 23, 59, 59, 999999, tzinfo=UTC), 7, "2026-11-24", "2026-12-01"),
        # "today" is the UTC day, whatever the caller's zone
        (
            dt.datetime(2026, 11, 30, 20, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
            1,
            "2026-12-01",
            "2026-12-02",
        ),
        (dt.datetime(2028, 3, 1, 12, tzinfo=UTC), 2, "2028-02-29", "2028-03-02"),
    ],
)
def test_last_days(now: dt.datetime, days: int, start: str, end: str) -> None:
    w = last_days(days, now=now)
    assert (w.start, w.end, w.days) == (
        dt.datetime.fromisoformat(start).replace(tzinfo=UTC),
        dt.datetime.fromisoformat(end).replace(tzinfo=UTC),
        days,
    )
    assert w.end - w.start == dt.timedelta(days=days)


def test_defaults_are_pinned() -> None:
    assert window.DEFAULT_WINDOW_DAYS == 30
    assert window.MAX_WINDOW_DAYS == 732
    assert dt.datetime(2000, 1, 1, tzinfo=UTC) == window.EARLIEST
    assert dt.datetime(2200, 1, 1, tzinfo=UTC) == window.LATEST
    assert last_days().days == 30


@pytest.mark.parametrize("days", [0, -1, 733, True, 1.5, "7"])
def test_bad_days(days: object) -> None:
    with pytest.raises(QueryError, match="days must be"):
        last_days(days)  # type: ignore[arg-type]


def test_naive_now_is_refused() -> None:
    with pytest.raises(QueryError, match="timezone-aware"):
        last_days(7, now=dt.datetime(2026, 1, 1))


@pytest.mark.parametrize(
    "value",
    [
        dt.datetime.min,
        dt.datetime.max,
        dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=14))),
        dt.datetime(9999, 12, 31, 23, tzinfo=dt.timezone(dt.timedelta(hours=-14))),
        dt.datetime(1969, 12, 31, 23, 59, tzinfo=UTC),
        dt.datetime(2200, 1, 1, 0, 0, 1, tzinfo=UTC),
    ],
)
def test_check_bounds_refuses_the_edges(value: dt.datetime) -> None:
    with pytest.raises(QueryError, match="between 2000-01-01 and 2200-01-01"):
        check_bounds(value, "start")


def test_check_bounds_reads_naive_as_utc() -> None:
    assert check_bounds(dt.datetime(2000, 1, 1), "start") == window.EARLIEST
    local = dt.datetime(2200, 1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert check_bounds(local, "end") == window.LATEST
