"""Event trends: events and distinct users per bucket, event type and service, for every
stored event type (migration 0008's aggregates group by the stored ``event_type`` itself:
an event class a service defines appears without any code change)."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Final, Literal

from .._errors import QueryError
from ..schema.facts import EVENT_TRENDS_DAILY, EVENT_TRENDS_HOURLY
from . import _exec
from ._common import (
    _DAY,
    _HOUR,
    DEFAULT_LIMIT,
    MAX_DAILY_RANGE,
    MAX_HOURLY_RANGE,
    MAX_LIMIT,
    _ceil,
    _equals,
    _filter,
    _limit,
    _range,
    build_rows,
    epoch_sql,
    fast_rows,
)

__all__ = ["EventTrendRow", "TrendGranularity", "event_trends"]


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
    db: _exec.Db,
    *,
    start: _dt.date | _dt.datetime,
    end: _dt.date | _dt.datetime,
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
        lo, hi, table = _ceil(lo, _HOUR), _ceil(hi, _HOUR), EVENT_TRENDS_HOURLY
    elif granularity == "day":
        lo, hi = _range(start, end, MAX_DAILY_RANGE)
        lo, hi, table = _ceil(lo, _DAY), _ceil(hi, _DAY), EVENT_TRENDS_DAILY
    else:
        raise QueryError(f"granularity must be 'hour' or 'day', not {granularity!r}")
    lim = _limit(limit, MAX_LIMIT)
    if lo >= hi:
        return []
    params = _exec.Params(lo, hi)
    where = ["bucket >= $1", "bucket < $2"]
    _equals(
        where,
        params,
        {"event_type": _filter(event_type, "event_type"), "service": _filter(service, "service")},
    )
    sql = (
        f"SELECT {epoch_sql('bucket')}, event_type, service, events::bigint, users::bigint"
        f" FROM {table} WHERE {' AND '.join(where)}"
        f" ORDER BY bucket, event_type, service LIMIT {params.add(lim)}"
    )
    records = await _exec.fetch(db, "events.event_trends", sql, *params.values)
    return build_rows(_make_trend, records)
