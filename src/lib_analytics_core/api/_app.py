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

Bad parameters never reach the database: FastAPI rejects wrong types with 422, the
query layer's :class:`QueryError` (range order, maximum range, limits) becomes 400.
"""

# No `from __future__ import annotations`: FastAPI resolves the dependency annotations of
# the route closures at runtime, and postponed strings cannot see their local names.
import asyncio
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

__all__ = [
    "DEFAULT_POOL_MAX_SIZE",
    "DEFAULT_STATEMENT_TIMEOUT_MS",
    "ReadOnlyDatabase",
    "create_app",
]

logger = logging.getLogger("lib_analytics_core.api")

#: Concurrent queries per API process; dashboards issue ~8 requests per page load.
DEFAULT_POOL_MAX_SIZE: Final = 8
#: A query running longer than this is cancelled by the server (protects the database).
DEFAULT_STATEMENT_TIMEOUT_MS: Final = 15_000
#: Default range when a request gives none: the 30 days ending tomorrow (UTC midnight).
_DEFAULT_DAYS: Final = 30

_T = TypeVar("_T")


# ------------------------------------------------------------------------ the database


class ReadOnlyDatabase:
    """A lazily created asyncpg pool whose sessions are read-only.

    Lazy so the API starts (and ``/healthz`` answers 503) while the database is down,
    instead of crash-looping; created on the first request, closed at shutdown.
    """

    def __init__(
        self,
        dsn: str,
        *,
        max_size: int = DEFAULT_POOL_MAX_SIZE,
        statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS,
    ) -> None:
        self._dsn = dsn
        self._max_size = max_size
        self._statement_timeout_ms = statement_timeout_ms
        self._pool: asyncpg.Pool[Any] | None = None
        self._lock: asyncio.Lock | None = None

    async def pool(self) -> "asyncpg.Pool[Any]":
        """The pool, created on first use."""
        if self._pool is not None:
            return self._pool
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._pool is None:
                try:
                    self._pool = await asyncpg.create_pool(
                        self._dsn,
                        min_size=0,
                        max_size=self._max_size,
                        server_settings={
                            "default_transaction_read_only": "on",
                            "statement_timeout": str(self._statement_timeout_ms),
                            "application_name": "lib-analytics-core api",
                        },
                    )
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
                    raise DatabaseUnavailableError(
                        f"cannot connect to the analytics database: {type(err).__name__}"
                    ) from err
        return self._pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), 5.0)
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                pool.terminate()


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
class Health:
    status: str
    database: str


_ENCODER = msgspec.json.Encoder()


def _json(value: object, status: int = 200) -> Response:
    """msgspec encodes dataclasses and datetimes in C: several times faster than
    FastAPI's pydantic round trip for thousand-row series. The declared
    ``response_model`` still documents the shape in the OpenAPI schema."""
    return Response(_ENCODER.encode(value), status_code=status, media_type="application/json")


# ------------------------------------------------------------------------ parameters

Start = Annotated[
    _dt.datetime | None,
    Query(
        description="Range start (inclusive), ISO 8601 date or date-time; naive means UTC. "
        "Default: 30 days before `end`."
    ),
]
End = Annotated[
    _dt.datetime | None,
    Query(
        description="Range end (exclusive), ISO 8601 date or date-time; naive means UTC. "
        "Default: tomorrow 00:00 UTC (so today is included)."
    ),
]
Limit = Annotated[int, Query(ge=1, le=q.MAX_LIMIT, description="Maximum rows returned.")]
Text = Annotated[str | None, Query(min_length=1, max_length=200)]


def _resolve(
    start: _dt.datetime | None, end: _dt.datetime | None
) -> tuple[_dt.datetime, _dt.datetime]:
    def utc(value: _dt.datetime) -> _dt.datetime:
        return value.replace(tzinfo=_dt.UTC) if value.tzinfo is None else value.astimezone(_dt.UTC)

    if end is None:
        today = _dt.datetime.now(_dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        hi = today + _dt.timedelta(days=1)
    else:
        hi = utc(end)
    lo = utc(start) if start is not None else hi - _dt.timedelta(days=_DEFAULT_DAYS)
    return lo, hi


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
        try:
            yield
        finally:
            await db.close()

    app = FastAPI(
        title=title,
        summary="Read-only analytics over the lib-analytics-core aggregates.",
        version="1",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.db = db

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
        logger.warning("analytics API query failed: %s", exc)
        return JSONResponse({"detail": str(exc)}, status_code=503)

    async def run(
        fn: Callable[..., Awaitable[list[_T]]], lo: _dt.datetime, hi: _dt.datetime, **kwargs: Any
    ) -> Response:
        pool = await db.pool()
        rows = await fn(pool, start=lo, end=hi, **kwargs)
        return _json(Series(start=lo, end=hi, rows=rows))

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_token)], tags=["analytics"])

    @v1.get("/active-users", response_model=Series[q.ActiveUsersRow])
    async def active_users(start: Start = None, end: End = None) -> Response:
        """DAU, WAU and MAU per day (exact distinct counts)."""
        return await run(q.active_users, *_resolve(start, end))

    @v1.get("/tasks", response_model=Series[q.TaskStatsRow])
    async def tasks(start: Start = None, end: End = None) -> Response:
        """Task outcomes per day, success rate, average/p50/p95 duration."""
        return await run(q.task_stats, *_resolve(start, end))

    @v1.get("/api-latency", response_model=Series[q.ApiLatencyRow])
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
            *_resolve(start, end),
            granularity=granularity,
            group_by=group_by,
            service=service,
            endpoint=endpoint,
            method=method,
            limit=limit,
        )

    @v1.get("/integrations", response_model=Series[q.IntegrationHealthRow])
    async def integrations(
        start: Start = None,
        end: End = None,
        provider: Text = None,
        by_day: Annotated[bool, Query(description="false: one row per provider")] = True,
    ) -> Response:
        """Integration usage, success rate and errors per provider."""
        return await run(
            q.integration_health, *_resolve(start, end), provider=provider, by_day=by_day
        )

    @v1.get("/auth", response_model=Series[q.AuthMetricsRow])
    async def auth(start: Start = None, end: End = None) -> Response:
        """Logins, login codes, token refreshes and session checks per day."""
        return await run(q.auth_metrics, *_resolve(start, end))

    @v1.get("/cocoons", response_model=Series[q.CocoonActivityRow])
    async def cocoons(start: Start = None, end: End = None) -> Response:
        """Cocoon registrations, connections and setup tokens per day."""
        return await run(q.cocoon_activity, *_resolve(start, end))

    @v1.get("/errors", response_model=Series[q.ErrorRow])
    async def errors(
        start: Start = None,
        end: End = None,
        service: Text = None,
        error_type: Text = None,
        limit: Limit = q.DEFAULT_LIMIT,
    ) -> Response:
        """Errors per hour, service and error type, with a sample message."""
        return await run(
            q.errors, *_resolve(start, end), service=service, error_type=error_type, limit=limit
        )

    @v1.get("/errors/top", response_model=Series[q.TopErrorRow])
    async def top_errors(
        start: Start = None,
        end: End = None,
        service: Text = None,
        limit: Annotated[int, Query(ge=1, le=q.MAX_TOP_ERRORS)] = q.DEFAULT_TOP_ERRORS,
    ) -> Response:
        """The most frequent error types over the range."""
        return await run(q.top_errors, *_resolve(start, end), service=service, limit=limit)

    @v1.get("/services", response_model=Services)
    async def services(
        since: Annotated[_dt.datetime | None, Query(description="Default: 90 days ago.")] = None,
    ) -> Response:
        """Services with API traffic or errors (for a filter)."""
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=_dt.UTC)
        pool = await db.pool()
        return _json(Services(services=await q.list_services(pool, since=since)))

    app.include_router(v1)

    @app.get("/healthz", response_model=Health, tags=["ops"])
    async def healthz() -> Response:
        """Liveness and database reachability (no token needed; reveals no data)."""
        try:
            pool = await db.pool()
            await asyncio.wait_for(pool.fetchval("SELECT 1"), 5.0)
        except (
            DatabaseError,
            OSError,
            TimeoutError,
            asyncpg.PostgresError,
            asyncpg.InterfaceError,
        ):
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
