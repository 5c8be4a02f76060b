"""The ``/v1`` routes: one GET per typed query, behind the bearer token.

A module-level :class:`~fastapi.APIRouter` whose dependencies carry the token check
(``_deps.require_token``); each route takes the pool as a dependency (``_deps.Pool``) and
answers through :func:`~._responses.json_response`. ``create_app`` includes it.
"""

# No `from __future__ import annotations`: FastAPI resolves these annotations at runtime.
import datetime as _dt
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from ..read import queries as q
from ..read import window as _window
from ..schema.health import DEFAULT_MAX_STALENESS, schema_health
from ._deps import Pool, require_token
from ._params import ERROR_RESPONSES, End, Limit, Since, Start, Text, bounded, resolve, text
from ._responses import Series, Services, WindowBody, json_response

__all__ = ["router"]

_T = TypeVar("_T")

router = APIRouter(
    prefix="/v1",
    dependencies=[Depends(require_token)],
    tags=["analytics"],
    responses=ERROR_RESPONSES,
)


def _described(summary: str, maximum: _dt.timedelta) -> str:
    """A route's OpenAPI description with its range limit, from the query layer's constant."""
    return f"{summary} Ranges up to {maximum.days} days; longer is a 400."


async def _series(
    fn: Callable[..., Awaitable[list[_T]]],
    db: Any,
    lo: _dt.datetime,
    hi: _dt.datetime,
    **kwargs: Any,
) -> Response:
    rows = await fn(db, start=lo, end=hi, **kwargs)
    return json_response(Series(start=lo, end=hi, rows=rows))


@router.get("/window", response_model=WindowBody)
async def window(
    days: Annotated[
        int, Query(ge=1, le=_window.MAX_WINDOW_DAYS, description="How many days.")
    ] = _window.DEFAULT_WINDOW_DAYS,
) -> Response:
    """The last `days` whole UTC days, today included: the one definition of "the last
    N days" that the dashboard presets, the API defaults and the demo share."""
    w = _window.last_days(days)
    return json_response(WindowBody(start=w.start, end=w.end, days=w.days))


@router.get(
    "/active-users",
    response_model=Series[q.ActiveUsersRow],
    description=_described(
        "DAU, WAU and MAU per day (exact distinct counts).", q.MAX_ACTIVE_USERS_RANGE
    ),
)
async def active_users(db: Pool, start: Start = None, end: End = None) -> Response:
    """DAU, WAU and MAU per day (exact distinct counts)."""
    return await _series(q.active_users, db, *resolve(start, end))


@router.get(
    "/tasks",
    response_model=Series[q.TaskStatsRow],
    description=_described(
        "Task outcomes per day, success rate, average/p50/p95 duration.", q.MAX_DAILY_RANGE
    ),
)
async def tasks(db: Pool, start: Start = None, end: End = None) -> Response:
    """Task outcomes per day, success rate, average/p50/p95 duration."""
    return await _series(q.task_stats, db, *resolve(start, end))


@router.get(
    "/api-latency",
    response_model=Series[q.ApiLatencyRow],
    description="Requests, 4xx/5xx and p50/p95/p99 latency per hour or day. Ranges: up "
    f"to {q.MAX_HOURLY_RANGE.days} days with `granularity=hour` (and for a `total` "
    f"that does not start and end at midnight UTC), up to {q.MAX_DAILY_RANGE.days} "
    "days otherwise; longer is a 400.",
)
async def api_latency(  # noqa: PLR0917 - FastAPI query parameters
    db: Pool,
    start: Start = None,
    end: End = None,
    granularity: Annotated[
        Literal["hour", "day", "total"],
        Query(
            description="`hour` reads the hourly aggregate, `day` the daily rollup, "
            "`total` returns one row per group for the whole range."
        ),
    ] = "hour",
    group_by: Literal["total", "service", "endpoint"] = "service",
    service: Text = None,
    endpoint: Text = None,
    method: Text = None,
    limit: Limit = q.DEFAULT_LIMIT,
) -> Response:
    """Requests, 4xx/5xx and p50/p95/p99 latency per hour or day."""
    return await _series(
        q.api_latency,
        db,
        *resolve(start, end),
        granularity=granularity,
        group_by=group_by,
        service=text(service, "service"),
        endpoint=text(endpoint, "endpoint"),
        method=text(method, "method"),
        limit=limit,
    )


@router.get(
    "/integrations",
    response_model=Series[q.IntegrationHealthRow],
    description=_described(
        "Integration usage, success rate and errors per provider.", q.MAX_DAILY_RANGE
    ),
)
async def integrations(
    db: Pool,
    start: Start = None,
    end: End = None,
    provider: Text = None,
    by_day: Annotated[bool, Query(description="false: one row per provider")] = True,
) -> Response:
    """Integration usage, success rate and errors per provider."""
    return await _series(
        q.integration_health,
        db,
        *resolve(start, end),
        provider=text(provider, "provider"),
        by_day=by_day,
    )


@router.get(
    "/auth",
    response_model=Series[q.AuthMetricsRow],
    description=_described(
        "Logins, login codes, token refreshes and session checks per day.", q.MAX_DAILY_RANGE
    ),
)
async def auth(db: Pool, start: Start = None, end: End = None) -> Response:
    """Logins, login codes, token refreshes and session checks per day."""
    return await _series(q.auth_metrics, db, *resolve(start, end))


@router.get(
    "/cocoons",
    response_model=Series[q.CocoonActivityRow],
    description=_described(
        "Cocoon registrations, connections and setup tokens per day.", q.MAX_DAILY_RANGE
    ),
)
async def cocoons(db: Pool, start: Start = None, end: End = None) -> Response:
    """Cocoon registrations, connections and setup tokens per day."""
    return await _series(q.cocoon_activity, db, *resolve(start, end))


@router.get(
    "/errors",
    response_model=Series[q.ErrorRow],
    description=_described(
        "Errors per hour, service and error type, with a sample message.", q.MAX_HOURLY_RANGE
    ),
)
async def errors(  # noqa: PLR0917 - FastAPI query parameters
    db: Pool,
    start: Start = None,
    end: End = None,
    service: Text = None,
    error_type: Text = None,
    limit: Limit = q.DEFAULT_LIMIT,
) -> Response:
    """Errors per hour, service and error type, with a sample message."""
    return await _series(
        q.errors,
        db,
        *resolve(start, end),
        service=text(service, "service"),
        error_type=text(error_type, "error_type"),
        limit=limit,
    )


@router.get(
    "/errors/top",
    response_model=Series[q.TopErrorRow],
    description=_described("The most frequent error types over the range.", q.MAX_DAILY_RANGE),
)
async def top_errors(
    db: Pool,
    start: Start = None,
    end: End = None,
    service: Text = None,
    limit: Annotated[int, Query(ge=1, le=q.MAX_TOP_ERRORS)] = q.DEFAULT_TOP_ERRORS,
) -> Response:
    """The most frequent error types over the range."""
    return await _series(
        q.top_errors, db, *resolve(start, end), service=text(service, "service"), limit=limit
    )


@router.get("/services", response_model=Services)
async def services(db: Pool, since: Since = None) -> Response:
    """Services with API traffic or errors (for a filter)."""
    lo = bounded(since, "since")
    return json_response(Services(services=await q.list_services(db, since=lo)))


@router.get("/health", tags=["ops"])
async def health(
    db: Pool,
    max_staleness_minutes: Annotated[
        int,
        Query(
            ge=1,
            le=7 * 24 * 60,
            description="An aggregate whose newest bucket lags the raw data by more "
            "than this is stale.",
        ),
    ] = int(DEFAULT_MAX_STALENESS.total_seconds() // 60),
) -> Response:
    """Is the data current? TimescaleDB jobs (last run, consecutive failures, last
    error) and each aggregate's staleness. ``ok`` false and ``problems`` drive the
    dashboard's "data is stale" banner: a scheduler that is off or failing, or a
    ``maintain`` cron that stopped, shows up here instead of as quietly old charts."""
    report = await schema_health(db)
    limit = _dt.timedelta(minutes=max_staleness_minutes)
    return json_response(report.as_dict(max_staleness=limit))
