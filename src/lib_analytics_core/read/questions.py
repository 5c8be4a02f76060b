"""Slowest endpoints, the KPI overview and event trends, under the names users import
them by, with the calling convention they had before issue 25.

The questions live in :mod:`.endpoints` (``top_endpoints``), :mod:`.overview` and
:mod:`.events` (``event_trends``) with the read layer's one signature,
``(db, *, start, end, **filters)``. These four took ``start``/``end`` positionally
before; the wrappers below still accept that (deprecated: pass them by keyword; the
positional form goes in 0.2) and call the family module. New code imports from there.
"""

from __future__ import annotations

import datetime as _dt
from typing import Final

from .._errors import QueryError
from ._common import DEFAULT_LIMIT
from ._exec import Db
from .catalog import list_event_types as _list_event_types
from .endpoints import (
    DEFAULT_TOP_ENDPOINTS,
    MAX_TOP_ENDPOINTS,
    EndpointRanking,
)
from .endpoints import top_endpoints as _top_endpoints
from .events import EventTrendRow, TrendGranularity
from .events import event_trends as _event_trends
from .latency import ApiLatencyRow
from .overview import Overview
from .overview import overview as _overview

__all__ = [
    "DEFAULT_TOP_ENDPOINTS",
    "MAX_TOP_ENDPOINTS",
    "EndpointRanking",
    "EventTrendRow",
    "Overview",
    "TrendGranularity",
    "event_trends",
    "list_event_types",
    "overview",
    "top_endpoints",
]

When = _dt.date | _dt.datetime
_MISSING: Final = "start and end are required (by keyword: start=..., end=...)"


def _bounds(start: When | None, end: When | None) -> tuple[When, When]:
    if start is None or end is None:
        raise QueryError(_MISSING)
    return start, end


async def top_endpoints(
    db: Db,
    start: When | None = None,
    end: When | None = None,
    *,
    by: EndpointRanking = "p95",
    limit: int = DEFAULT_TOP_ENDPOINTS,
    service: str | None = None,
) -> list[ApiLatencyRow]:
    """:func:`.endpoints.top_endpoints` (``start``/``end`` also positionally, deprecated)."""
    lo, hi = _bounds(start, end)
    return await _top_endpoints(db, start=lo, end=hi, by=by, limit=limit, service=service)


async def overview(
    db: Db,
    start: When | None = None,
    end: When | None = None,
    *,
    now: _dt.datetime | None = None,
) -> Overview:
    """:func:`.overview.overview` (``start``/``end`` also positionally, deprecated)."""
    lo, hi = _bounds(start, end)
    return await _overview(db, start=lo, end=hi, now=now)


async def event_trends(
    db: Db,
    start: When | None = None,
    end: When | None = None,
    *,
    granularity: TrendGranularity = "day",
    event_type: str | None = None,
    service: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> list[EventTrendRow]:
    """:func:`.events.event_trends` (``start``/``end`` also positionally, deprecated)."""
    lo, hi = _bounds(start, end)
    return await _event_trends(
        db,
        start=lo,
        end=hi,
        granularity=granularity,
        event_type=event_type,
        service=service,
        limit=limit,
    )


async def list_event_types(db: Db, since: When | None = None) -> list[str]:
    """:func:`.catalog.list_event_types` (``since`` also positionally)."""
    return await _list_event_types(db, since=since)
