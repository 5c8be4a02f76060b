"""Answers an operator asks in one call: the slowest endpoints, the KPI overview, and
the trend of any event type.

Same conventions as :mod:`.queries` (half-open UTC ranges, aggregates only, bad
parameters raise :class:`QueryError` before any SQL runs). ``top_endpoints`` and
``overview`` read the running distributions of migration 0007 through
:func:`.latency.api_latency` (``granularity="total"``), so their cost is a few rows per
endpoint whatever the range; ``event_trends`` reads the per-type aggregates of migration
0008, which group by the stored ``event_type`` itself: an event class a service defines
appears there without any code change.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

import asyncpg

from .._errors import QueryError
from ._common import (
    _DAY,
    _HOUR,
    _UTC,
    DEFAULT_LIMIT,
    MAX_DAILY_RANGE,
    MAX_HOURLY_RANGE,
    MAX_LIMIT,
    _as_utc,
    _ceil,
    _equals,
    _fetch,
    _filter,
    _limit,
    _range,
    _ratio,
    build_rows,
    epoch_sql,
    fast_rows,
)
from .latency import ApiLatencyRow, api_latency

__all__ = [
    "DEFAULT_TOP_ENDPOINTS",
    "MAX_TOP_ENDPOINTS",
    "EndpointRanking",
    "EventTrendRow",
    "Overview",
    "event_trends",
    "list_event_types",
    "overview",
    "top_endpoints",
]

#: Rows of :func:`top_endpoints` by default, and at most.
DEFAULT_TOP_ENDPOINTS: Final = 10
MAX_TOP_ENDPOINTS: Final = 1_000

EndpointRanking = Literal["p95", "p99", "error_rate", "requests"]
_RANKING: Final[dict[str, Callable[[ApiLatencyRow], float | None]]] = {
    "p95": lambda r: r.p95_ms,
    "p99": lambda r: r.p99_ms,
    "error_rate": lambda r: r.error_rate,
    "requests": lambda r: float(r.requests),
}


async def top_endpoints(
    db: asyncpg.Pool[Any] | asyncpg.Connection[Any],
    start: _dt.date | _dt.datetime,
    end: _dt.date | _dt.datetime,
    *,
    by: EndpointRanking = "p95",
    limit: int = DEFAULT_TOP_ENDPOINTS,
    service: str | None = None,
) -> list[ApiLatencyRow]:
    """The ``limit`` (service, endpoint, method) groups ranked by ``by`` over the range.

    One row per group (``bucket`` None), descending by ``by``; ties, and groups whose
    value is None (no usable duration), go by requests descending, then by name.
    Percentiles are within 1 % of the exact ones, as everywhere (:mod:`.histogram`).
    """
    if by not in _RANKING:
        raise QueryError(f"by must be 'p95', 'p99', 'error_rate' or 'requests', not {by!r}")
    lim = _limit(limit, MAX_TOP_ENDPOINTS)
    rows = await api_latency(
        db,
        start=start,
        end=end,
        granularity="total",
        group_by="endpoint",
        service=service,
        limit=MAX_LIMIT,
    )
    value = _RANKING[by]

    def order(r: ApiLatencyRow) -> tuple[int, float, int, str, str, str]:
        v = value(r)
        return (
            0 if v is not None else 1,
            -float(v or 0),
            -r.requests,
            r.service or "",
            r.endpoint or "",
            r.method or "",
        )

    return sorted(rows, key=order)[:lim]


@dataclass(frozen=True, slots=True, kw_only=True)
class Overview:
    """Every KPI card of the dashboard for one range, in one answer.

    ``dau`` is the number of distinct users on ``dau_day``: the last *whole* UTC day
    inside the range, or, when the range holds no whole day that has ended (it covers
    only today), today so far. ``wau``/``mau`` are the distinct users of the 7 and 30
    days ending with ``dau_day``. ``requests``, ``p95_ms`` and ``error_rate`` are the API
    traffic over the whole range (all services); ``task_success_rate`` is completed /
    (completed + failed) over the range. Any of them is None when there is no data.
    """

    start: _dt.datetime
    end: _dt.datetime
    dau: int | None
    dau_day: _dt.datetime | None
    wau: int | None
    mau: int | None
    requests: int
    p95_ms: float | None
    error_rate: float | None
    task_success_rate: float | None


_OVERVIEW_SQL: Final = """
SELECT (SELECT row(dau, wau, mau) FROM analytics_active_users_daily WHERE day = $3) AS users,
       (SELECT row(coalesce(sum(completed), 0)::bigint, coalesce(sum(failed), 0)::bigint)
        FROM analytics_task_stats_daily WHERE day >= $1 AND day < $2) AS tasks
"""


def _dau_day(lo: _dt.datetime, hi: _dt.datetime, now: _dt.datetime) -> _dt.datetime | None:
    """The day ``Overview.dau`` counts (see its docstring); None if the range holds none."""
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    hi_floor = hi if _ceil(hi, _DAY) == hi else _ceil(hi, _DAY) - _DAY
    last = min(hi_floor, today) - _DAY  # the last whole day that has ended
    if last >= lo:
        return last
    if lo < today + _DAY and hi > today:
        return today
    return None


async def overview(
    db: asyncpg.Pool[Any] | asyncpg.Connection[Any],
    start: _dt.date | _dt.datetime,
    end: _dt.date | _dt.datetime,
    *,
    now: _dt.datetime | None = None,
) -> Overview:
    """The KPI cards over ``[start, end)`` (definitions in :class:`Overview`)."""
    lo, hi = _range(start, end, MAX_DAILY_RANGE)
    clock = _dt.datetime.now(_UTC) if now is None else _as_utc(now, "now")
    day = _dau_day(lo, hi, clock)
    totals = await api_latency(db, start=lo, end=hi, granularity="total", group_by="total")
    rows = await _fetch(db, _OVERVIEW_SQL, _ceil(lo, _DAY), _ceil(hi, _DAY), day)
    users, tasks = rows[0]["users"], rows[0]["tasks"]
    api = totals[0] if totals else None
    completed, failed = (int(tasks[0]), int(tasks[1])) if tasks is not None else (0, 0)
    return Overview(
        start=lo,
        end=hi,
        dau=None if users is None else int(users[0]),
        dau_day=day,
        wau=None if users is None else int(users[1]),
        mau=None if users is None else int(users[2]),
        requests=0 if api is None else api.requests,
        p95_ms=None if api is None else api.p95_ms,
        error_rate=None if api is None else api.error_rate,
        task_success_rate=_ratio(completed, completed + failed),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class EventTrendRow:
    """Events of one type from one service in one bucket, and their distinct users.

    ``users`` is exact within the bucket (distinct user ids; events without one are
    not counted); users of different buckets or services do not add up.
    """

    bucket: _dt.datetime
    event_type: str
    service: str
    events: int
    users: int


_make_trend: Final = fast_rows(EventTrendRow, epoch="bucket")

TrendGranularity = Literal["hour", "day"]


async def event_trends(
    db: asyncpg.Pool[Any] | asyncpg.Connection[Any],
    start: _dt.date | _dt.datetime,
    end: _dt.date | _dt.datetime,
    *,
    granularity: TrendGranularity = "day",
    event_type: str | None = None,
    service: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> list[EventTrendRow]:
    """Events and distinct users per bucket, event type and service; oldest first.

    Every stored event type appears, custom ones included. Only buckets with events
    have rows. Ranges: up to :data:`MAX_HOURLY_RANGE` hourly, :data:`MAX_DAILY_RANGE` daily.
    """
    if granularity == "hour":
        lo, hi = _range(start, end, MAX_HOURLY_RANGE)
        lo, hi, table = _ceil(lo, _HOUR), _ceil(hi, _HOUR), "analytics_event_trends_hourly"
    elif granularity == "day":
        lo, hi = _range(start, end, MAX_DAILY_RANGE)
        lo, hi, table = _ceil(lo, _DAY), _ceil(hi, _DAY), "analytics_event_trends_daily"
    else:
        raise QueryError(f"granularity must be 'hour' or 'day', not {granularity!r}")
    lim = _limit(limit, MAX_LIMIT)
    if lo >= hi:
        return []
    args: list[object] = [lo, hi]
    where = ["bucket >= $1", "bucket < $2"]
    _equals(
        where,
        args,
        {"event_type": _filter(event_type, "event_type"), "service": _filter(service, "service")},
    )
    args.append(lim)
    sql = (
        f"SELECT {epoch_sql('bucket')}, event_type, service, events::bigint, users::bigint"
        f" FROM {table}"
        f" WHERE {' AND '.join(where)} ORDER BY bucket, event_type, service LIMIT ${len(args)}"
    )
    return build_rows(_make_trend, await _fetch(db, sql, *args))


async def list_event_types(
    db: asyncpg.Pool[Any] | asyncpg.Connection[Any],
    since: _dt.date | _dt.datetime | None = None,
) -> list[str]:
    """Event types stored since ``since`` (default: the last 90 days), sorted: the
    values an event-type picker offers, custom types included."""
    lo = (
        _as_utc(since, "since")
        if since is not None
        else _dt.datetime.now(_UTC) - _dt.timedelta(days=90)
    )
    lo = _ceil(lo, _DAY) - _DAY
    rows = await _fetch(
        db,
        "SELECT DISTINCT event_type FROM analytics_event_trends_daily WHERE bucket >= $1"
        " ORDER BY 1",
        lo,
    )
    return [str(r["event_type"]) for r in rows]
