"""The one definition of "the last N days", and the outer bounds of any date range.

A window is **N whole UTC days ending with today (UTC), today included**: the half-open
range ``[today 00:00 UTC - (N - 1) days, tomorrow 00:00 UTC)``. So "the last 30 days"
on 2026-11-30 at 15:00 UTC is 2026-11-01 00:00 UTC up to 2026-12-01 00:00 UTC, and
"the last day" (the dashboard's 1-day preset) is today so far.

Why whole days and not a rolling ``now - N days``: the daily aggregates (active users,
tasks, auth, cocoons, the daily latency rollup) are bucketed by UTC day, so a rolling
window would cut the first day in two and every panel would have to decide whether that
day counts. With whole days every panel, the API defaults, the dashboard presets and the
demo's printed summary cover exactly the same buckets and give the same totals. The
price is that today is partial (it is still filling up); panels that show "the latest
day" (the DAU KPI) say which day they show.

Everything that means "the last N days" calls :func:`last_days`: the API's default
range (``/v1/*`` without ``start``/``end`` is the last 30 days), the ``/v1/window``
endpoint the dashboard asks for its presets, and the demo's summary.

:data:`EARLIEST` and :data:`LATEST` bound every date the API accepts. Dates outside
them are not analytics data: year 0001 is sent by asyncpg as ``-infinity`` (a
``generate_series`` from there never ends) and year 9999 overflows when a day is added.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Final

from .._errors import QueryError

__all__ = [
    "DEFAULT_WINDOW_DAYS",
    "EARLIEST",
    "LATEST",
    "MAX_WINDOW_DAYS",
    "Window",
    "check_bounds",
    "last_days",
]

#: The window of a request that names no range, and of the dashboard's first view.
DEFAULT_WINDOW_DAYS: Final = 30
#: The longest "last N days", and the longest range of any daily series of the read side
#: (two years): its one home (``_common.MAX_DAILY_RANGE`` is this many days).
MAX_WINDOW_DAYS: Final = 732
#: The earliest instant any range may start at, for the API and the library alike.
#: Nothing this library stores is older, and the aggregates' week buckets are aligned
#: on 2000-01-03 (TimescaleDB's origin), just after it.
EARLIEST: Final = _dt.datetime(2000, 1, 1, tzinfo=_dt.UTC)
#: The latest instant any range may end at. Far enough for any real question, far
#: enough from year 9999 that bucket arithmetic cannot overflow.
LATEST: Final = _dt.datetime(2200, 1, 1, tzinfo=_dt.UTC)

_DAY: Final = _dt.timedelta(days=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class Window:
    """The half-open UTC range ``[start, end)`` of ``days`` whole days."""

    start: _dt.datetime
    end: _dt.datetime
    days: int


def last_days(days: int = DEFAULT_WINDOW_DAYS, *, now: _dt.datetime | None = None) -> Window:
    """The last ``days`` whole UTC days, today included: ``[today - (days-1), tomorrow)``.

    ``now`` (timezone-aware; default: the current time) fixes "today" for tests and for
    callers that must agree on one instant. Raises :class:`QueryError` for a ``days``
    outside ``1..MAX_WINDOW_DAYS`` or a naive ``now``.
    """
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_WINDOW_DAYS:
        raise QueryError(f"days must be an integer between 1 and {MAX_WINDOW_DAYS}, got {days!r}")
    if now is None:
        now = _dt.datetime.now(_dt.UTC)
    elif now.tzinfo is None or now.utcoffset() is None:
        raise QueryError("now must be timezone-aware")
    today = now.astimezone(_dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    end = today + _DAY
    return Window(start=end - days * _DAY, end=end, days=days)


def check_bounds(value: _dt.datetime, name: str) -> _dt.datetime:
    """``value`` in UTC if it lies in ``[EARLIEST, LATEST]``, else :class:`QueryError`.

    A naive ``value`` is read as UTC (the API's documented convention). Converting an
    edge like ``0001-01-01T00:00+01:00`` to UTC overflows; that is reported the same way.
    """
    try:
        utc = (
            value.replace(tzinfo=_dt.UTC)
            if value.tzinfo is None or value.utcoffset() is None
            else value.astimezone(_dt.UTC)
        )
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST <= utc <= LATEST:
        raise QueryError(
            f"{name} must lie between {EARLIEST.date().isoformat()} and "
            f"{LATEST.date().isoformat()} (UTC), got {value.isoformat()}"
        )
    return utc
