"""The read-only HTTP API and dashboard (FastAPI): one GET endpoint per query.

Read-only by construction, three times over:

* only GET routes exist (a test walks the routing table);
* the pool's sessions run with ``default_transaction_read_only=on``, so even a
  superuser DSN cannot write through it;
* it is meant to connect as a login in the ``analytics_reader`` role the migrations
  create (SELECT on the aggregates only), see ``docs/api.md``.

Authentication is a single bearer token (``ANALYTICS_API_TOKEN``) on everything under
``/v1/``. The dashboard page and its static assets are public (they contain no data);
the page asks for the token once and keeps it in ``sessionStorage``.

Bad parameters never reach the database: FastAPI rejects wrong types with 422; dates
outside the supported years, control characters in filters and the query layer's
:class:`QueryError` (range order, maximum range, limits) become 400 with a message naming
the parameter (``_params.py``). Database failures answer 503 with a generic message: the
database's own text goes to the server log, never to the client.

``/docs`` (Swagger UI) is off: FastAPI loads it from a public CDN without integrity
checks, on the dashboard's origin. ``/openapi.json`` stays, for any local viewer.
"""

# No `from __future__ import annotations`: FastAPI resolves the dependency annotations of
# the route closures at runtime, and postponed strings cannot see their local names.
import contextlib
import datetime as _dt
import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from importlib.resources import files
from typing import Annotated, Any, Final, Generic, Literal, TypeVar

import asyncpg
import msgspec
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles

from .._errors import ConfigurationError, DatabaseError, DatabaseUnavailableError, QueryError
from ..read import queries as q
from ..read import window as _window
from ..schema.health import DEFAULT_MAX_STALENESS, schema_health
from ._database import DEFAULT_POOL_MAX_SIZE, DEFAULT_STATEMENT_TIMEOUT_MS, ReadOnlyDatabase
from ._params import (
    ERROR_RESPONSES,
    End,
    Limit,
    Since,
    Start,
    Text,
    bounded,
    resolve,
    text,
)
from ._security import SecurityHeaders, install_access_log_redaction

__all__ = [
    "DEFAULT_POOL_MAX_SIZE",
    "DEFAULT_STATEMENT_TIMEOUT_MS",
    "ReadOnlyDatabase",
    "create_app",
]

logger = logging.getLogger("lib_analytics_core.api")


_T = TypeVar("_T")


# ----------------------------------------------------------------------- responses


@dataclass(frozen=True, slots=True, kw_only=True)
class Series(Generic[_T]):
    """Every data endpoint's envelope: the range actually used, then the rows."""

    start: _dt.datetime
    end: _dt.datetime
    rows: list[_T]


@dataclass(frozen=True, slots=True, kw_only=True)
class Services:
    services: list[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowBody:
    """A resolved "last N days" (``read/window.py``): whole UTC days, today included."""

    start: _dt.datetime
    end: _dt.datetime
    days: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Health:
    status: str
    database: str


_ENCODER = msgspec.json.Encoder()


def _json(value: object, status: int = 200) -> Response:
    """msgspec encodes dataclasses and datetimes in C: several times faster than
    FastAPI's pydantic round trip for thousand-row series. The declared
    ``response_model`` still documents the shape in the OpenAPI schema."""
    return Response(_ENCODER.encode(value), status_code=status, media_type="application/json")


# --------------------------------------------------------------------------- the app


def create_app(  # noqa: PLR0915 - the factory declares its routes as closures
    database_url: str,
    token: str,
    *,
    pool_max_size: int = DEFAULT_POOL_MAX_SIZE,
    statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS,
    title: str = "lib-analytics-core",
) -> FastAPI:
    """The ASGI app: ``/v1/*`` JSON (bearer ``token``), ``/healthz``, ``/openapi.json``, ``/``.

    ``database_url`` should be a login in the ``analytics_reader`` role; the pool is
    read-only regardless. ``token`` must be at least 16 characters: it is the only
    thing between the network and the platform's usage data.
    """
    if not database_url:
        raise ConfigurationError("create_app() needs a database URL")
    if not isinstance(token, str) or len(token) < 16:
        raise ConfigurationError("the API token must be at least 16 characters")
    db = ReadOnlyDatabase(
        database_url, max_size=pool_max_size, statement_timeout_ms=statement_timeout_ms
    )
    expected = token.encode()

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        install_access_log_redaction()
        try:
            yield
        finally:
            await db.close()

    app = FastAPI(
        title=title,
        summary="Read-only analytics over the lib-analytics-core aggregates.",
        version="1",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.db = db
    app.add_middleware(SecurityHeaders)
    install_access_log_redaction()  # again at startup, in case logging was reconfigured

    bearer = HTTPBearer(auto_error=False, description="The value of ANALYTICS_API_TOKEN.")

    async def require_token(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> None:
        if (
            credentials is None
            or credentials.scheme.lower() != "bearer"
            or not (hmac.compare_digest(credentials.credentials.encode(), expected))
        ):
            raise _Unauthorized

    @app.exception_handler(_Unauthorized)
    async def _unauthorized(_request: Request, _exc: _Unauthorized) -> Response:
        return JSONResponse(
            {"detail": "missing or invalid bearer token"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    @app.exception_handler(QueryError)
    async def _bad_query(_request: Request, exc: QueryError) -> Response:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(DatabaseError)
    async def _db_error(_request: Request, exc: DatabaseError) -> Response:
        # The database's text can name tables, roles or values: log it, do not send it.
        logger.warning("analytics API query failed: %s", exc)
        status, detail = _public_error(exc)
        return JSONResponse({"detail": detail}, status_code=status)

    async def run(
        fn: Callable[..., Awaitable[list[_T]]], lo: _dt.datetime, hi: _dt.datetime, **kwargs: Any
    ) -> Response:
        pool = await db.pool()
        rows = await fn(pool, start=lo, end=hi, **kwargs)
        return _json(Series(start=lo, end=hi, rows=rows))

    v1 = APIRouter(
        prefix="/v1",
        dependencies=[Depends(require_token)],
        tags=["analytics"],
        responses=ERROR_RESPONSES,
    )

    @v1.get("/window", response_model=WindowBody)
    async def window(
        days: Annotated[
            int, Query(ge=1, le=_window.MAX_WINDOW_DAYS, description="How many days.")
        ] = _window.DEFAULT_WINDOW_DAYS,
    ) -> Response:
        """The last `days` whole UTC days, today included: the one definition of "the last
        N days" that the dashboard presets, the API defaults and the demo share."""
        w = _window.last_days(days)
        return _json(WindowBody(start=w.start, end=w.end, days=w.days))

    @v1.get(
        "/active-users",
        response_model=Series[q.ActiveUsersRow],
        description=_described(
            "DAU, WAU and MAU per day (exact distinct counts).", q.MAX_ACTIVE_USERS_RANGE
        ),
    )
    async def active_users(start: Start = None, end: End = None) -> Response:
        """DAU, WAU and MAU per day (exact distinct counts)."""
        return await run(q.active_users, *resolve(start, end))

    @v1.get(
        "/tasks",
        response_model=Series[q.TaskStatsRow],
        description=_described(
            "Task outcomes per day, success rate, average/p50/p95 duration.", q.MAX_DAILY_RANGE
        ),
    )
    async def tasks(start: Start = None, end: End = None) -> Response:
        """Task outcomes per day, success rate, average/p50/p95 duration."""
        return await run(q.task_stats, *resolve(start, end))

    @v1.get(
        "/api-latency",
        response_model=Series[q.ApiLatencyRow],
        description="Requests, 4xx/5xx and p50/p95/p99 latency per hour or day. Ranges: up "
        f"to {q.MAX_HOURLY_RANGE.days} days with `granularity=hour` (and for a `total` "
        f"that does not start and end at midnight UTC), up to {q.MAX_DAILY_RANGE.days} "
        "days otherwise; longer is a 400.",
    )
    async def api_latency(  # noqa: PLR0917 - FastAPI query parameters
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
        return await run(
            q.api_latency,
            *resolve(start, end),
            granularity=granularity,
            group_by=group_by,
            service=text(service, "service"),
            endpoint=text(endpoint, "endpoint"),
            method=text(method, "method"),
            limit=limit,
        )

    @v1.get(
        "/integrations",
        response_model=Series[q.IntegrationHealthRow],
        description=_described(
            "Integration usage, success rate and errors per provider.", q.MAX_DAILY_RANGE
        ),
    )
    async def integrations(
        start: Start = None,
        end: End = None,
        provider: Text = None,
        by_day: Annotated[bool, Query(description="false: one row per provider")] = True,
    ) -> Response:
        """Integration usage, success rate and errors per provider."""
        return await run(
            q.integration_health,
            *resolve(start, end),
            provider=text(provider, "provider"),
            by_day=by_day,
        )

    @v1.get(
        "/auth",
        response_model=Series[q.AuthMetricsRow],
        description=_described(
            "Logins, login codes, token refreshes and session checks per day.", q.MAX_DAILY_RANGE
        ),
    )
    async def auth(start: Start = None, end: End = None) -> Response:
        """Logins, login codes, token refreshes and session checks per day."""
        return await run(q.auth_metrics, *resolve(start, end))

    @v1.get(
        "/cocoons",
        response_model=Series[q.CocoonActivityRow],
        description=_described(
            "Cocoon registrations, connections and setup tokens per day.", q.MAX_DAILY_RANGE
        ),
    )
    async def cocoons(start: Start = None, end: End = None) -> Response:
        """Cocoon registrations, connections and setup tokens per day."""
        return await run(q.cocoon_activity, *resolve(start, end))

    @v1.get(
        "/errors",
        response_model=Series[q.ErrorRow],
        description=_described(
            "Errors per hour, service and error type, with a sample message.", q.MAX_HOURLY_RANGE
        ),
    )
    async def errors(
        start: Start = None,
        end: End = None,
        service: Text = None,
        error_type: Text = None,
        limit: Limit = q.DEFAULT_LIMIT,
    ) -> Response:
        """Errors per hour, service and error type, with a sample message."""
        return await run(
            q.errors,
            *resolve(start, end),
            service=text(service, "service"),
            error_type=text(error_type, "error_type"),
            limit=limit,
        )

    @v1.get(
        "/errors/top",
        response_model=Series[q.TopErrorRow],
        description=_described("The most frequent error types over the range.", q.MAX_DAILY_RANGE),
    )
    async def top_errors(
        start: Start = None,
        end: End = None,
        service: Text = None,
        limit: Annotated[int, Query(ge=1, le=q.MAX_TOP_ERRORS)] = q.DEFAULT_TOP_ERRORS,
    ) -> Response:
        """The most frequent error types over the range."""
        return await run(
            q.top_errors, *resolve(start, end), service=text(service, "service"), limit=limit
        )

    @v1.get("/services", response_model=Services)
    async def services(since: Since = None) -> Response:
        """Services with API traffic or errors (for a filter)."""
        lo = bounded(since, "since")
        pool = await db.pool()
        return _json(Services(services=await q.list_services(pool, since=lo)))

    @v1.get("/health", tags=["ops"])
    async def health(
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
        pool = await db.pool()
        report = await schema_health(pool)
        limit = _dt.timedelta(minutes=max_staleness_minutes)
        return _json(report.as_dict(max_staleness=limit))

    app.include_router(v1)
    from .routes_questions import router as questions  # noqa: PLC0415 - it imports this module

    app.include_router(questions, dependencies=[Depends(require_token)])

    @app.get(
        "/healthz",
        response_model=Health,
        tags=["ops"],
        responses={503: {"model": Health, "description": "The database does not answer."}},
    )
    async def healthz() -> Response:
        """Liveness and database reachability (no token needed; reveals no data)."""
        if not await db.ping():
            return _json(Health(status="degraded", database="unreachable"), status=503)
        return _json(Health(status="ok", database="ok"))

    @app.get("/", include_in_schema=False)
    async def dashboard() -> HTMLResponse:
        return HTMLResponse(_index_html(), headers=_PAGE_HEADERS)

    app.mount(
        "/static",
        StaticFiles(packages=[("lib_analytics_core.api", "static")]),
        name="static",
    )
    return app


def _described(summary: str, maximum: _dt.timedelta) -> str:
    """A route's OpenAPI description with its range limit, from the query layer's constant."""
    return f"{summary} Ranges up to {maximum.days} days; longer is a 400."


def _public_error(exc: DatabaseError) -> tuple[int, str]:
    """Status and client-facing message of a database failure (no database text)."""
    cause = exc.__cause__
    if isinstance(cause, asyncpg.DataError):
        # SQLSTATE class 22: a value the database cannot take (what validation missed).
        return 400, "a parameter value was rejected by the database"
    if isinstance(cause, asyncpg.QueryCanceledError):
        return 503, "the query took too long and was cancelled; try a shorter range"
    if isinstance(exc, DatabaseUnavailableError):
        return 503, "the analytics database is unavailable"
    return 503, "the analytics query failed; the server log has the details"


class _Unauthorized(Exception):
    """Raised by the token dependency; turned into a 401 with WWW-Authenticate."""


#: The page loads only its own scripts; ECharts sets inline styles on its tooltips.
_PAGE_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

_INDEX: str | None = None


def _index_html() -> str:
    global _INDEX  # noqa: PLW0603 - read the packaged page once
    if _INDEX is None:
        _INDEX = (files("lib_analytics_core.api") / "static" / "index.html").read_text("utf-8")
    return _INDEX
