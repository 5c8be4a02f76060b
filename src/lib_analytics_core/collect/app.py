"""The collector's ASGI app: ``POST /events/batch`` and ``GET /health``.

Order of checks for a batch, each answered before any work the next one costs:

1. **401** without a valid bearer token (or the anonymous opt-in, see ``tokens``);
2. **413** for a body over ``max_body_bytes`` (from ``Content-Length``, and counted while
   reading, since a client may lie or stream), or more than ``max_events`` elements;
3. **400** when the body is not a JSON array at all (nothing can be attributed to an
   index);
4. **429** with ``Retry-After`` when the token's event rate is exhausted (the batch is
   refused whole, so a retry never duplicates a half-stored one);
5. **403** when any event names a service the token may not write (nothing stored);
6. each element is validated on its own (``events.wire``): the bad ones are listed in
   ``rejected`` with their index and reason (and dead-lettered), the good ones stored;
7. **503** with ``Retry-After`` when the rows are neither committed, acknowledged by
   JetStream nor fsync'd to the spool; otherwise **200** ``{"received": n, "rejected":
   [...]}``, ``n`` being the events now durably stored (or already stored by an earlier
   attempt: a retry answers the same ``n``).

The OpenAPI document carries the batch's JSON Schema (the same structs the decoder uses),
so schemathesis and client generators see exactly what is accepted.
"""

# No `from __future__ import annotations`: FastAPI inspects the route signatures.
import asyncio
import collections
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import msgspec
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.types import Receive, Scope, Send

from .._connect import create_pool
from .._errors import AnalyticsError, ErrorKind
from .._http_errors import DATABASE_ERRORS, error_body
from ..events.wire import WireCatalogue, WireReject, wire_catalogue
from ..ingest.pipeline import fast_row_codecs
from .batch import enrich
from .config import CollectorConfig
from .delivery import CollectorDelivery, NotMigrated, Unavailable
from .ratelimit import EventRateLimit
from .segment_routes import SCHEMA_COMPONENTS as SEGMENT_SCHEMAS
from .segment_routes import install_segment_routes

__all__ = ["create_collector"]

logger = logging.getLogger("lib_analytics_core.collect")

_ENCODER = msgspec.json.Encoder()

_ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
    "required": ["error", "message"],
}
_RESULT_SCHEMA = {
    "type": "object",
    "properties": {
        "received": {"type": "integer", "minimum": 0},
        "rejected": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "index": {"type": "integer", "minimum": 0},
                    "reason": {"type": "string"},
                    "type": {"type": ["string", "null"]},
                },
                "required": ["index", "reason", "type"],
            },
        },
    },
    "required": ["received", "rejected"],
}


def _json(value: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        _ENCODER.encode(value), status_code=status, media_type="application/json", headers=headers
    )


#: The error code of each status the collector answers (``_http_errors``' one body).
_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    409: "not_migrated",
    413: "too_large",
    429: "rate_limited",
    503: "unavailable",
}


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """The one error body (``{"error": code, "message": ...}``, as ``analytics-api``)."""
    return _json(error_body(_CODES[status], message), status, headers)


class _TooLarge(AnalyticsError):
    pass


async def _keep_session(conn: "asyncpg.Connection[Any]") -> None:
    """The pool's reset on release: nothing beyond asyncpg's own (an open transaction is
    rolled back). The collector's connections hold no session state (``_connect``: no
    ``SET``, ``LISTEN``, session lock or temporary table outlives a transaction), so
    asyncpg's default reset query (``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
    RESET ALL``) reset nothing, for a round trip per group commit (5 % of the CPU)."""


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR_SCHEMA}}}


class _CollectorApp(FastAPI):
    """FastAPI, with the write routes' ``POST``s dispatched straight to their endpoints.

    The endpoints take the request and return the whole response themselves (no
    parameters, dependencies or exception handlers of FastAPI's), so the ten layers of
    middleware, routing and endpoint wrapping a request otherwise crosses do nothing
    for them but cost 1-2 µs of CPU per event at 100 events a request. They stay
    declared as routes for the OpenAPI document; every other request (other methods,
    paths, the lifespan) goes through FastAPI as before.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.endpoints: dict[str, Callable[[Request], Awaitable[Response]]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path: str = scope["path"]
            root: str = scope.get("root_path", "")
            if root and path.startswith(root):
                path = path[len(root) :]
            endpoint = self.endpoints.get(path)
            if endpoint is not None:
                scope["app"] = self
                response = await endpoint(Request(scope, receive))
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_collector(  # noqa: PLR0915 - the factory declares its routes as closures
    config: CollectorConfig,
    *,
    database_url: str | None = None,
    pool: "asyncpg.Pool[Any] | None" = None,
    transport: str | None = None,
    catalogue: WireCatalogue | None = None,
) -> FastAPI:
    """The collector app, writing to PostgreSQL (``database_url`` or a borrowed
    ``pool``) or publishing to the NATS bus (``transport="nats://…"``).

    ``catalogue`` defaults to every event class registered when this is called: import
    a service's own event modules first and they are accepted like the seed's.
    """
    if sum(x is not None for x in (database_url, pool, transport)) != 1:
        raise ValueError("give exactly one of database_url, pool or transport")
    wire = catalogue if catalogue is not None else wire_catalogue()
    limiter = EventRateLimit(
        rate_per_sec=config.rate_events_per_sec, burst=config.rate_burst_events
    )
    state: dict[str, Any] = {}
    #: Every answer and every event accounted for (``GET /stats``): received + rejected
    #: are the events of the 200s; a 503's events are counted as unavailable.
    counts: dict[str, Any] = {
        "responses": collections.Counter(),
        "events_received": 0,
        "events_rejected": 0,
        "events_unavailable": 0,
    }

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_pool = None
        target: Any = pool
        if database_url is not None:
            # min_size=0: the collector starts (and spools or answers 503) with the
            # database down; connections are opened on demand.
            own_pool = target = await create_pool(
                database_url,
                min_size=0,
                max_size=config.pool_size,
                command_timeout=config.write_timeout_secs,
                settings={"application_name": "analytics-collect"},
                reset=_keep_session,
                init=fast_row_codecs,  # the sink's cheaper timestamptz encoding
            )
        delivery = CollectorDelivery.for_target(
            pool=target,
            transport=transport,
            write_timeout_secs=config.write_timeout_secs,
            spool_dir=config.spool_dir,
            spool_max_bytes=config.spool_max_bytes,
        )
        await delivery.open()
        stop = asyncio.Event()
        replay = asyncio.create_task(delivery.replay_forever(stop))
        state["delivery"] = delivery
        try:
            yield
        finally:
            stop.set()
            await replay
            await delivery.close()
            if own_pool is not None:
                try:
                    await asyncio.wait_for(own_pool.close(), 2.0)
                except (Exception, asyncio.CancelledError):
                    own_pool.terminate()

    app = _CollectorApp(
        title="analytics-collect",
        version="1",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    components = msgspec.json.schema_components(
        [list[wire.envelope]],  # type: ignore[name-defined]
        ref_template="#/components/schemas/{name}",
    )
    (batch_body,), component_schemas = components

    @app.post(
        "/events/batch",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": batch_body}},
            },
            "security": [{"bearer": []}],
        },
        responses={
            200: {
                "description": "Every accepted event is durably stored; refused ones listed",
                "content": {"application/json": {"schema": _RESULT_SCHEMA}},
            },
            400: _error_response("The body is not a JSON array"),
            401: _error_response("No valid write token"),
            403: _error_response("An event names a service the token may not write"),
            413: _error_response("Body or batch too large"),
            409: _error_response(
                "The database is not migrated: run analytics-migrate (not retryable)"
            ),
            429: _error_response("The token's event rate is exhausted (see Retry-After)"),
            503: _error_response("Storage unavailable and no spool room (see Retry-After)"),
        },
    )
    async def post_batch(request: Request) -> Response:
        response = await _handle_batch(request)
        counts["responses"][str(response.status_code)] += 1
        return response

    async def _handle_batch(request: Request) -> Response:
        grant = config.tokens.authenticate(request.headers.get("authorization"))
        if grant is None:
            return _error(401, "a valid bearer token is required", {"WWW-Authenticate": "Bearer"})
        try:
            body = await _read_body(request, config.max_body_bytes)
        except _TooLarge:
            return _error(413, f"the body exceeds {config.max_body_bytes} bytes")
        try:
            accepted, rejected = wire.decode_batch(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as err:
            return _error(400, f"expected a JSON array of events: {str(err)[:200]}")
        total = len(accepted) + len(rejected)
        if total > config.max_events:
            return _error(413, f"a batch holds at most {config.max_events} events, got {total}")
        wait = limiter.take(grant.key, total)
        if wait:
            return _error(
                429, "event rate limit exceeded for this token", {"Retry-After": str(int(wait))}
            )
        delivery: CollectorDelivery = state["delivery"]
        enrichment = enrich(accepted, grant, delivery.before_track)
        forbidden = enrichment.forbidden
        if forbidden is not None:
            what = repr(forbidden.service) if forbidden.service else "no service"
            return _error(403, f"event {forbidden.index}: this token may not write {what}"[:300])
        encoded = delivery.encode(enrichment.events)
        encoded.refused.extend(enrichment.refused)
        try:
            outcome = await delivery.store(encoded.rows)
        except NotMigrated:
            # Not retryable (a 5xx would be retried for ever): an operator must migrate.
            # Segment's SDKs and this project's HTTP sink stop on a 4xx other than 429.
            counts["events_unavailable"] += len(encoded.rows)
            return _error(409, DATABASE_ERRORS[ErrorKind.NOT_MIGRATED][2])
        except Unavailable:
            counts["events_unavailable"] += len(encoded.rows)
            return _error(
                503,
                "storage unavailable; nothing was stored",
                {"Retry-After": str(config.retry_after_secs)},
            )
        results: list[WireReject] = list(rejected)
        results.extend(WireReject(i, reason) for i, reason in encoded.refused)
        if outcome.refused:
            for row, index in zip(encoded.rows, encoded.indices, strict=True):
                reason = outcome.refused.get(row[1])
                if reason is not None:
                    results.append(WireReject(index, f"refused by the database: {reason}", row[2]))
        if rejected:
            # Keyed by the request's body and the element's position: a retry of this
            # request is kept once, the same bad event in another request on its own.
            service = grant.default_service or grant.key
            digest = hashlib.blake2b(body, digest_size=16).digest()
            await delivery.dead_letter(
                [
                    delivery.refusal(
                        r.payload,
                        r.event_type,
                        service,
                        r.reason,
                        key=digest + r.index.to_bytes(8, "big") + r.reason.encode(),
                    )
                    for r in rejected
                ]
            )
        results.sort(key=lambda r: r.index)
        # Events the privacy hook dropped count as received: the client's job is done.
        received = len(accepted) - len(encoded.refused) - len(outcome.refused)
        counts["events_received"] += received
        counts["events_rejected"] += len(results)
        return _json(
            {
                "received": received,
                "rejected": [
                    {"index": r.index, "reason": r.reason, "type": r.event_type} for r in results
                ],
            }
        )

    @app.get(
        "/health",
        responses={
            200: {
                "description": "The collector is up",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {"status": {"const": "ok"}},
                            "required": ["status"],
                        }
                    }
                },
            }
        },
    )
    async def health() -> Response:
        return _json({"status": "ok"})

    @app.get(
        "/stats",
        openapi_extra={"security": [{"bearer": []}]},
        responses={
            200: {
                "description": "Counters since start (any valid write token)",
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            401: _error_response("No valid write token"),
        },
    )
    async def stats(request: Request) -> Response:
        if config.tokens.authenticate(request.headers.get("authorization")) is None:
            return _error(401, "a valid bearer token is required", {"WWW-Authenticate": "Bearer"})
        delivery: CollectorDelivery | None = state.get("delivery")
        c = delivery.counters if delivery is not None else None
        return _json(
            {
                "responses": dict(counts["responses"]),
                "events_received": counts["events_received"],
                "events_rejected": counts["events_rejected"],
                "events_unavailable": counts["events_unavailable"],
                "rows_written": c.written if c else 0,
                "rows_spooled": c.spooled if c else 0,
                "rows_replayed": c.replayed if c else 0,
                "dead_lettered": c.rejected if c else 0,
                "dead_letters_unstored": delivery.dead_letters_unstored if delivery else 0,
                "group_commits": delivery.group_commits if delivery else 0,
                "write_busy_seconds": round(delivery.write_busy_seconds, 6) if delivery else 0.0,
                "last_error": c.last_error if c else None,
            }
        )

    app.endpoints["/events/batch"] = post_batch
    app.endpoints |= install_segment_routes(
        app,
        config,
        state=state,
        limiter=limiter,
        counts=counts,
        classes={cls.event_type: cls for cls in wire.classes},
    )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi  # noqa: PLC0415

            doc = get_openapi(title=app.title, version=app.version, routes=app.routes)
            schemas = doc.setdefault("components", {}).setdefault("schemas", {})
            schemas.update(component_schemas)
            schemas.update(SEGMENT_SCHEMAS)
            doc["components"]["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer"},
                "basic": {"type": "http", "scheme": "basic"},
            }
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
