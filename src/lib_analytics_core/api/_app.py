"""The read-only HTTP API and dashboard (FastAPI): ``create_app`` assembles it.

The routes live at module level, in one router per family of questions
(``routes_v1.py``: the precomputed series; ``routes_questions.py``: slowest endpoints,
overview, event trends; ``routes_explore.py``: explore and event fields;
``routes_users.py``: a user's summary and timeline; ``routes_ops.py``: ``/healthz`` and
the page), all declared through ``_routing.py``; they get the database and the token
check through dependencies (``_deps.py``) that read ``app.state``. This module only builds the
app: the database, the token, the middleware, the error handlers, the routers, the
static assets.

Read-only by construction, three times over:

* only GET routes exist (a test walks the routing table);
* the pool's sessions run with ``default_transaction_read_only=on``, so even a
  superuser DSN cannot write through it;
* it is meant to connect as a login in the ``analytics_reader`` role the migrations
  create (SELECT on the aggregates only), see ``docs/api.md``.

Authentication is a single bearer token (``ANALYTICS_API_TOKEN``) on everything under
``/v1/``. The dashboard page and its static assets are public (they contain no data);
the page asks for the token once and keeps it in ``sessionStorage``.

Every error answer has the one body of ``_http_errors`` (``{"error": code, "message":
...}``, shared with the collector). Bad parameters never reach the database: FastAPI
rejects wrong types with 422; dates outside the supported years, control characters in
filters and the query layer's :class:`QueryError` (range order, maximum range, limits)
become 400 with a message naming the parameter (``_params.py``); both carry
``"error": "bad_request"``. A failed database call answers what its kind says
(``_http_errors.database_error``: 503 ``unavailable``/``timeout``/``not_migrated``, 400
for a value the database refused, 500 ``internal`` for a bug) with a sentence of ours:
the database's own text goes to the server log, never to the client.

``/docs`` (Swagger UI) is off: FastAPI loads it from a public CDN without integrity
checks, on the dashboard's origin. ``/openapi.json`` stays, for any local viewer.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from .._errors import ConfigurationError, DatabaseError, QueryError
from .._http_errors import database_error, error_body
from . import (
    routes_alerts,
    routes_explore,
    routes_funnels,
    routes_ops,
    routes_questions,
    routes_users,
    routes_v1,
)
from ._cache import DEFAULT_CACHE_TTL_S, ResponseCache
from ._database import DEFAULT_POOL_MAX_SIZE, DEFAULT_STATEMENT_TIMEOUT_MS, ReadOnlyDatabase
from ._deps import Unauthorized
from ._security import SecurityHeaders, install_access_log_redaction

__all__ = [
    "DEFAULT_POOL_MAX_SIZE",
    "DEFAULT_STATEMENT_TIMEOUT_MS",
    "ReadOnlyDatabase",
    "create_app",
]

logger = logging.getLogger("lib_analytics_core.api")


def create_app(
    database_url: str,
    token: str,
    *,
    pool_max_size: int = DEFAULT_POOL_MAX_SIZE,
    statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS,
    cache_ttl_s: float = DEFAULT_CACHE_TTL_S,
    title: str = "lib-analytics-core",
) -> FastAPI:
    """The ASGI app: ``/v1/*`` JSON (bearer ``token``), ``/healthz``, ``/openapi.json``, ``/``.

    ``database_url`` should be a login in the ``analytics_reader`` role; the pool is
    read-only regardless. ``token`` must be at least 16 characters: it is the only
    thing between the network and the platform's usage data. ``cache_ttl_s``: how long a
    ``/v1`` answer is served again to the same credentials (``_cache.py``; 0 turns it off).
    """
    if not database_url:
        raise ConfigurationError("create_app() needs a database URL")
    if not isinstance(token, str) or len(token) < 16:
        raise ConfigurationError("the API token must be at least 16 characters")
    db = ReadOnlyDatabase(
        database_url, max_size=pool_max_size, statement_timeout_ms=statement_timeout_ms
    )

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
    app.state.token = token.encode()
    app.add_middleware(ResponseCache, ttl_s=cache_ttl_s)  # inside SecurityHeaders
    app.add_middleware(SecurityHeaders)
    install_access_log_redaction()  # again at startup, in case logging was reconfigured
    app.add_exception_handler(Unauthorized, _unauthorized)
    app.add_exception_handler(QueryError, _bad_query)
    app.add_exception_handler(DatabaseError, _db_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(Exception, _internal)
    app.include_router(routes_v1.router)
    app.include_router(routes_questions.router)
    app.include_router(routes_explore.router)
    app.include_router(routes_users.router)
    app.include_router(routes_funnels.router)
    app.include_router(routes_ops.router)
    app.include_router(routes_alerts.router)
    app.mount(
        "/static",
        StaticFiles(packages=[("lib_analytics_core.api", "static")]),
        name="static",
    )
    return app


async def _unauthorized(_request: Request, _exc: Exception) -> Response:
    return JSONResponse(
        error_body("unauthorized", "missing or invalid bearer token"),
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


async def _bad_query(_request: Request, exc: Exception) -> Response:
    return JSONResponse(error_body("bad_request", str(exc)), status_code=400)


async def _invalid_request(_request: Request, exc: Exception) -> Response:
    """FastAPI's 422 (a parameter of the wrong type or shape), in the one error body:
    one sentence naming each parameter, instead of pydantic's list of objects."""
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(error_body("bad_request", _validation_message(exc)), status_code=422)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = [str(p) for p in error.get("loc", ()) if p not in ("query", "path", "body")]
        name = ".".join(where) or "request"
        parts.append(f"{name}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "the request's parameters are invalid"


async def _db_error(_request: Request, exc: Exception) -> Response:
    # The database's text can name tables, roles or values: log it, do not send it.
    assert isinstance(exc, DatabaseError)
    logger.warning("analytics API query failed (%s): %s", exc.kind.value, exc)
    status, body = database_error(exc.kind)
    return JSONResponse(body, status_code=status)


async def _internal(_request: Request, exc: Exception) -> Response:
    """Anything unhandled: a bug. Starlette logs the traceback after this answers."""
    return JSONResponse(
        error_body("internal", "the server failed to answer; its log has the details"),
        status_code=500,
    )
