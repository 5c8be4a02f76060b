"""``/v1`` routes of the one-request questions: slowest endpoints, the KPI overview (with
the previous period), event trends and the event-type picker.

Declared the one way every route module declares them (``_routing.py``).
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at runtime.
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Query
from fastapi.responses import Response

from ..read import _common as limits
from ..read import catalog, endpoints, events, latency
from ..read import overview as ov
from ._deps import Pool
from ._params import CsvFormat, End, Since, Start, Text, bounded, resolve, text
from ._responses import Series, json_response
from ._routing import get, series, v1_router

__all__ = ["router"]

router = v1_router()


@dataclass(frozen=True, slots=True, kw_only=True)
class EventTypes:
    event_types: list[str]


@get(
    router,
    "/endpoints/top",
    model=Series[latency.ApiLatencyRow],
    max_range=limits.MAX_DAILY_RANGE,
    csv=True,
)
async def top_endpoints(  # noqa: PLR0917 - FastAPI query parameters
    db: Pool,
    start: Start = None,
    end: End = None,
    service: Text = None,
    by: Literal["p95", "p99", "error_rate", "requests"] = "p95",
    limit: Annotated[
        int, Query(ge=1, le=endpoints.MAX_TOP_ENDPOINTS)
    ] = endpoints.DEFAULT_TOP_ENDPOINTS,
    fmt: CsvFormat = "json",
) -> Response:
    """The slowest (or busiest, or most failing) endpoints over the range: one row per
    service, endpoint and method, sorted descending by `by` (ties by requests). Each row
    leads to its drill-down: `/v1/api-latency?group_by=endpoint` with its service,
    endpoint and method."""
    return await series(
        endpoints.top_endpoints,
        db,
        *resolve(start, end),
        row=latency.ApiLatencyRow,
        fmt=fmt,
        name="top-endpoints",
        by=by,
        limit=limit,
        service=text(service, "service"),
    )


@get(
    router,
    "/overview",
    model=ov.Overview | ov.OverviewComparison,
    max_range=limits.MAX_DAILY_RANGE,
)
async def overview(
    db: Pool,
    start: Start = None,
    end: End = None,
    compare: Annotated[
        bool,
        Query(
            description="Answer `{current, previous}`: the cards of the range and of the "
            "previous period of equal length, for each card's change."
        ),
    ] = False,
    service: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            description="Only this service's API traffic in `requests`, `p95_ms` and "
            "`error_rate`; the user and task cards have no service and cover all.",
        ),
    ] = None,
) -> Response:
    """Every KPI card in one answer. `dau` counts the distinct users of `dau_day`: the
    last whole UTC day inside the range, or today so far if the range holds only today.
    With `compare=true` the answer is `{current, previous}`, `previous` the cards of
    `[start - (end - start), start)` (null before 2000-01-01)."""
    lo, hi = resolve(start, end)
    svc = text(service, "service")
    if compare:
        return json_response(await ov.overview_comparison(db, start=lo, end=hi, service=svc))
    return json_response(await ov.overview(db, start=lo, end=hi, service=svc))


@get(
    router,
    "/events/trends",
    model=Series[events.EventTrendRow],
    csv=True,
    note=f"Ranges up to {limits.MAX_HOURLY_RANGE.days} days hourly, "
    f"{limits.MAX_DAILY_RANGE.days} days daily; longer is a 400.",
)
async def event_trends(  # noqa: PLR0917 - FastAPI query parameters
    db: Pool,
    start: Start = None,
    end: End = None,
    granularity: Literal["hour", "day"] = "day",
    event_type: Text = None,
    service: Text = None,
    limit: Annotated[int, Query(ge=1, le=limits.MAX_LIMIT)] = limits.DEFAULT_LIMIT,
    fmt: CsvFormat = "json",
) -> Response:
    """Events and distinct users per hour or day, event type and service, for every
    stored event type (custom ones included)."""
    return await series(
        events.event_trends,
        db,
        *resolve(start, end),
        row=events.EventTrendRow,
        fmt=fmt,
        name="event-trends",
        granularity=granularity,
        event_type=text(event_type, "event_type"),
        service=text(service, "service"),
        limit=limit,
    )


@get(router, "/events/types", model=EventTypes)
async def event_types(db: Pool, since: Since = None) -> Response:
    """Event types stored since `since` (for a picker), custom ones included."""
    lo = bounded(since, "since")
    return json_response(EventTypes(event_types=await catalog.list_event_types(db, since=lo)))
