"""``/v1`` routes of the precomputed questions: users, tasks, API latency (and an
endpoint's drill-down), integrations, auth, cocoons, errors, services, the window and
the data's health.

Declared the one way every route module declares them (``_routing.py``): a module-level
router behind the token, the description from the docstring, the pool as a dependency,
``format=csv`` on every series.
"""

# No `from __future__ import annotations`: FastAPI resolves these annotations at runtime.
import datetime as _dt
from typing import Annotated, Any, Literal

from fastapi import Query
from fastapi.responses import Response

from ..read import _common as limits
from ..read import activity, auth, catalog, cocoons, errors, integrations, latency, tasks
from ..read import window as _window
from ..schema.health import DEFAULT_MAX_STALENESS, schema_health
from . import _health_words
from ._csv import csv_response
from ._deps import Pool
from ._params import CsvFormat, End, Limit, Since, Start, Text, bounded, resolve, text
from ._responses import Series, Services, WindowBody, json_response
from ._routing import get, series, v1_router

__all__ = ["router"]

router = v1_router()


@get(router, "/window", model=WindowBody)
async def window(
    days: Annotated[
        int, Query(ge=1, le=_window.MAX_WINDOW_DAYS, description="How many days.")
    ] = _window.DEFAULT_WINDOW_DAYS,
) -> Response:
    """The last `days` whole UTC days, today included: the one definition of "the last
    N days" that the dashboard presets, the API defaults and the demo share."""
    w = _window.last_days(days)
    return json_response(WindowBody(start=w.start, end=w.end, days=w.days))


@get(
    router,
    "/active-users",
    model=Series[activity.ActiveUsersRow],
    max_range=limits.MAX_ACTIVE_USERS_RANGE,
    csv=True,
)
async def active_users(
    db: Pool, start: Start = None, end: End = None, fmt: CsvFormat = "json"
) -> Response:
    """DAU, WAU and MAU per day (exact distinct counts)."""
    return await series(
        activity.active_users,
        db,
        *resolve(start, end),
        row=activity.ActiveUsersRow,
        fmt=fmt,
        name="active-users",
    )


@get(
    router,
    "/tasks",
    model=Series[tasks.TaskStatsRow],
    max_range=limits.MAX_DAILY_RANGE,
    csv=True,
)
async def task_stats(
    db: Pool, start: Start = None, end: End = None, fmt: CsvFormat = "json"
) -> Response:
    """Task outcomes per day, success rate, average/p50/p95 duration."""
    return await series(
        tasks.task_stats, db, *resolve(start, end), row=tasks.TaskStatsRow, fmt=fmt, name="tasks"
    )


@get(
    router,
    "/api-latency",
    model=Series[latency.ApiLatencyRow],
    csv=True,
    note="The drill-down of one endpoint: `group_by=endpoint` with its `service`, "
    "`endpoint` and `method`, `granularity=hour` or `day`. Ranges: up to "
    f"{limits.MAX_HOURLY_RANGE.days} days with `granularity=hour` (and for a `total` "
    f"that does not start and end at midnight UTC), up to {limits.MAX_DAILY_RANGE.days} "
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
    limit: Limit = limits.DEFAULT_LIMIT,
    fmt: CsvFormat = "json",
) -> Response:
    """Requests, 4xx/5xx and p50/p95/p99 latency per hour or day."""
    lo, hi = resolve(start, end)
    question: dict[str, Any] = {
        "granularity": granularity,
        "group_by": group_by,
        "service": text(service, "service"),
        "endpoint": text(endpoint, "endpoint"),
        "method": text(method, "method"),
        "limit": limit,
    }
    if fmt == "csv":  # written by the server itself where the rows are stored ones
        chunks = latency.api_latency_csv(db, start=lo, end=hi, **question)
        return await csv_response(chunks, filename="api-latency")
    rows = await latency.api_latency(db, start=lo, end=hi, **question)
    return json_response(Series(start=lo, end=hi, rows=rows))


@get(
    router,
    "/integrations",
    model=Series[integrations.IntegrationHealthRow],
    max_range=limits.MAX_DAILY_RANGE,
    csv=True,
)
async def integration_health(  # noqa: PLR0917 - FastAPI query parameters
    db: Pool,
    start: Start = None,
    end: End = None,
    provider: Text = None,
    by_day: Annotated[bool, Query(description="false: one row per provider")] = True,
    fmt: CsvFormat = "json",
) -> Response:
    """Integration usage, success rate and errors per provider."""
    return await series(
        integrations.integration_health,
        db,
        *resolve(start, end),
        row=integrations.IntegrationHealthRow,
        fmt=fmt,
        name="integrations",
        provider=text(provider, "provider"),
        by_day=by_day,
    )


@get(router, "/auth", model=Series[auth.AuthMetricsRow], max_range=limits.MAX_DAILY_RANGE, csv=True)
async def auth_metrics(
    db: Pool, start: Start = None, end: End = None, fmt: CsvFormat = "json"
) -> Response:
    """Logins, login codes, token refreshes and session checks per day."""
    return await series(
        auth.auth_metrics, db, *resolve(start, end), row=auth.AuthMetricsRow, fmt=fmt, name="auth"
    )


@get(
    router,
    "/cocoons",
    model=Series[cocoons.CocoonActivityRow],
    max_range=limits.MAX_DAILY_RANGE,
    csv=True,
)
async def cocoon_activity(
    db: Pool, start: Start = None, end: End = None, fmt: CsvFormat = "json"
) -> Response:
    """Cocoon registrations, connections and setup tokens per day."""
    return await series(
        cocoons.cocoon_activity,
        db,
        *resolve(start, end),
        row=cocoons.CocoonActivityRow,
        fmt=fmt,
        name="cocoons",
    )


@get(
    router,
    "/errors",
    model=Series[errors.ErrorRow],
    max_range=limits.MAX_HOURLY_RANGE,
    csv=True,
)
async def error_series(  # noqa: PLR0917 - FastAPI query parameters
    db: Pool,
    start: Start = None,
    end: End = None,
    service: Text = None,
    error_type: Text = None,
    limit: Limit = limits.DEFAULT_LIMIT,
    fmt: CsvFormat = "json",
) -> Response:
    """Errors per hour, service and error type, with a sample message."""
    return await series(
        errors.errors,
        db,
        *resolve(start, end),
        row=errors.ErrorRow,
        fmt=fmt,
        name="errors",
        service=text(service, "service"),
        error_type=text(error_type, "error_type"),
        limit=limit,
    )


@get(
    router,
    "/errors/top",
    model=Series[errors.TopErrorRow],
    max_range=limits.MAX_DAILY_RANGE,
    csv=True,
)
async def top_errors(  # noqa: PLR0917 - FastAPI query parameters
    db: Pool,
    start: Start = None,
    end: End = None,
    service: Text = None,
    limit: Annotated[int, Query(ge=1, le=limits.MAX_TOP_ERRORS)] = limits.DEFAULT_TOP_ERRORS,
    fmt: CsvFormat = "json",
) -> Response:
    """The most frequent error types over the range."""
    return await series(
        errors.top_errors,
        db,
        *resolve(start, end),
        row=errors.TopErrorRow,
        fmt=fmt,
        name="top-errors",
        service=text(service, "service"),
        limit=limit,
    )


@get(router, "/services", model=Services)
async def services(db: Pool, since: Since = None) -> Response:
    """Services with API traffic or errors (for a filter)."""
    lo = bounded(since, "since")
    return json_response(Services(services=await catalog.list_services(db, since=lo)))


@get(router, "/health", tags=["ops"])
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
    error), the maintainer, pending migrations and each aggregate's staleness (the age of
    the oldest row it does not count yet). ``problems`` name tables for operators;
    ``summary`` and ``behind`` (panel, since) are the dashboard banner's product words:
    a maintainer, scheduler or cron that stopped shows up as panels that are behind,
    instead of as quietly old charts."""
    report = await schema_health(db)
    limit = _dt.timedelta(minutes=max_staleness_minutes)
    body = report.as_dict(max_staleness=limit)
    # The banner's words (panels, since when); the operators' names stay above.
    body["summary"] = _health_words.summary(report, limit)
    body["behind"] = [
        {"panel": panel, "since": since.isoformat() if since else None}
        for panel, since in _health_words.behind(report, limit)
    ]
    return json_response(body)
