"""``/v1`` routes for the one-request questions: slowest endpoints, the KPI overview, and
the trend of any event type (``read/questions.py``).

A module-level router with the same bearer-token dependency as every ``/v1`` route
(``_deps.require_token``); ``create_app`` includes it; the database is the app's
(``request.app.state.db``).
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at runtime.
import datetime as _dt
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from ..read import queries as q
from ..read import questions as qq
from ._deps import require_token
from ._params import ERROR_RESPONSES, End, Since, Start, Text, bounded, resolve, text
from ._responses import Series
from ._responses import json_response as _json

__all__ = ["router"]

router = APIRouter(
    prefix="/v1",
    dependencies=[Depends(require_token)],
    tags=["analytics"],
    responses=ERROR_RESPONSES,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class EventTypes:
    event_types: list[str]


async def _pool(request: Request) -> "asyncpg.Pool[Any]":
    pool: asyncpg.Pool[Any] = await request.app.state.db.pool()
    return pool


@router.get(
    "/endpoints/top",
    response_model=Series[q.ApiLatencyRow],
    description="The slowest (or busiest, or most failing) endpoints over the range: one "
    "row per service, endpoint and method, sorted descending by `by` (ties by requests). "
    f"Ranges up to {q.MAX_DAILY_RANGE.days} days; longer is a 400.",
)
async def top_endpoints(  # noqa: PLR0917 - FastAPI query parameters
    request: Request,
    start: Start = None,
    end: End = None,
    service: Text = None,
    by: Literal["p95", "p99", "error_rate", "requests"] = "p95",
    limit: Annotated[int, Query(ge=1, le=qq.MAX_TOP_ENDPOINTS)] = qq.DEFAULT_TOP_ENDPOINTS,
) -> Response:
    """Top endpoints by p95, p99, error rate or requests."""
    lo, hi = resolve(start, end)
    rows = await qq.top_endpoints(
        await _pool(request), lo, hi, by=by, limit=limit, service=text(service, "service")
    )
    return _json(Series(start=lo, end=hi, rows=rows))


@router.get("/overview", response_model=qq.Overview)
async def overview(request: Request, start: Start = None, end: End = None) -> Response:
    """Every KPI card in one answer. `dau` counts the distinct users of `dau_day`: the
    last whole UTC day inside the range, or today so far if the range holds only today."""
    lo, hi = resolve(start, end)
    return _json(await qq.overview(await _pool(request), lo, hi))


@router.get(
    "/events/trends",
    response_model=Series[qq.EventTrendRow],
    description="Events and distinct users per hour or day, event type and service, for "
    f"every stored event type (custom ones included). Ranges up to {q.MAX_HOURLY_RANGE.days}"
    f" days hourly, {q.MAX_DAILY_RANGE.days} days daily; longer is a 400.",
)
async def event_trends(  # noqa: PLR0917 - FastAPI query parameters
    request: Request,
    start: Start = None,
    end: End = None,
    granularity: Literal["hour", "day"] = "day",
    event_type: Text = None,
    service: Text = None,
    limit: Annotated[int, Query(ge=1, le=q.MAX_LIMIT)] = q.DEFAULT_LIMIT,
) -> Response:
    """Events and distinct users per bucket, event type and service."""
    lo, hi = resolve(start, end)
    rows = await qq.event_trends(
        await _pool(request),
        lo,
        hi,
        granularity=granularity,
        event_type=text(event_type, "event_type"),
        service=text(service, "service"),
        limit=limit,
    )
    return _json(Series(start=lo, end=hi, rows=rows))


@router.get("/events/types", response_model=EventTypes)
async def event_types(request: Request, since: Since = None) -> Response:
    """Event types stored since `since` (for a picker), custom ones included."""
    lo: _dt.datetime | None = bounded(since, "since")
    return _json(EventTypes(event_types=await qq.list_event_types(await _pool(request), lo)))
