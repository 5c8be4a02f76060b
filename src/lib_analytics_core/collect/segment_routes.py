"""The Segment HTTP Tracking API routes: ``POST /v1/batch`` and the six single calls.

What the stock SDKs send and read (``docs/collector.md``, "Segment"):

* **auth**: HTTP Basic with a collector token as the user name (the write key), a
  bearer token, or the body's ``writeKey``; otherwise 401;
* **bodies**: JSON, optionally ``Content-Encoding: gzip``; at most 500 KB per batch
  (decompressed; 413 whole) and 32 KB per message (that message refused);
* **answers**: 200 ``{"success": true, "received": n, "rejected": [...]}`` once every
  accepted message is durable (committed, acknowledged by JetStream or fsync'd to the
  spool); a refused message is listed (and dead-lettered once), the others stored.
  A single call whose message is refused is a 400. The SDKs retry 429 and 5xx (503 +
  ``Retry-After`` when nothing could be stored) and stop on any other 4xx, so what is
  refused is never retried and what is transient always is; a database that is not
  migrated is 409 (run ``analytics-migrate``).
"""

# No `from __future__ import annotations`: FastAPI inspects the route signatures.
import datetime as _dt
import hashlib
import zlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import msgspec
from fastapi import FastAPI, Request
from fastapi.responses import Response

from .._errors import AnalyticsError, ErrorKind
from .._http_errors import DATABASE_ERRORS, error_body
from ..events.base import Event
from ..ingest.rows import Row
from .config import CollectorConfig
from .delivery import CollectorDelivery, NotMigrated, Unavailable
from .ratelimit import EventRateLimit
from .segment import (
    CALL_TYPES,
    Mapper,
    MessageBytes,
    Policy,
    Refused,
    SegmentBatch,
    SegmentMessage,
)
from .tokens import Grant

__all__ = ["MAX_BATCH_BYTES", "MAX_MESSAGE_BYTES", "SCHEMA_COMPONENTS", "install_segment_routes"]

#: The spec's limits: 32 KB per message, 500 KB per batch request.
MAX_MESSAGE_BYTES: Final = 32 * 1024
MAX_BATCH_BYTES: Final = 500 * 1024

_ENCODER = msgspec.json.Encoder()
_decode_batch = msgspec.json.Decoder(SegmentBatch).decode
_decode_message = msgspec.json.Decoder(SegmentMessage).decode
_decode_any = msgspec.json.Decoder().decode


class _TooLarge(AnalyticsError):
    pass


def _json(value: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        _ENCODER.encode(value), status_code=status, media_type="application/json", headers=headers
    )


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return _json(error_body(code, message), status, headers)


async def _read(request: Request, limit: int) -> bytes:
    """The body, gunzipped if sent so, refused past ``limit`` bytes either way."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    body = b"".join(chunks)
    if request.headers.get("content-encoding", "").lower() == "gzip":
        inflater = zlib.decompressobj(wbits=31)
        body = inflater.decompress(body, limit + 1)
        if len(body) > limit or inflater.unconsumed_tail:
            raise _TooLarge
    return body


def _write_key(*keys: str | None) -> str | None:
    return next((k for k in keys if k), None)


def install_segment_routes(  # noqa: PLR0915 - the routes are closures over the state
    app: FastAPI,
    config: CollectorConfig,
    *,
    state: dict[str, Any],
    limiter: EventRateLimit,
    counts: dict[str, Any],
    classes: Mapping[str, type[Event]],
) -> dict[str, Callable[[Request], Awaitable[Response]]]:
    """Add the seven Segment routes to the collector ``app``; returns each path's
    endpoint, for the collector's direct dispatch (``app``)."""
    keep_personal = config.segment_personal_data == "keep"

    def grant_for(request: Request, body_key: str | None) -> Grant | None:
        header = request.headers.get("authorization")
        if header is not None:
            return config.tokens.authenticate(header)
        if body_key:
            return config.tokens.lookup(body_key)
        return config.tokens.authenticate(None)

    async def handle(request: Request, call: str | None) -> Response:  # noqa: PLR0912, PLR0915
        """One answer per documented outcome, in the order they are checked."""
        limit = MAX_BATCH_BYTES if call is None else MAX_MESSAGE_BYTES
        try:
            body = await _read(request, limit)
        except _TooLarge:
            return _error(413, "too_large", f"the body exceeds {limit} bytes")
        except zlib.error:
            return _error(400, "bad_request", "the gzip body could not be decompressed")
        # Each message's bytes as views into the body (copied only to be dead-lettered).
        raws: list[MessageBytes]
        single: SegmentMessage | None = None
        try:
            if call is None:
                batch = _decode_batch(body)
                raws = list(batch.batch)
                key, sent_at = batch.write_key, batch.sent_at
            else:
                single = _decode_message(body)
                raws = [body]
                key, sent_at = single.write_key, single.sent_at
        except (msgspec.DecodeError, msgspec.ValidationError) as err:
            return _error(400, "bad_request", f"not a Segment message: {str(err)[:200]}")
        if not key and call is None and raws:
            try:  # the Node SDK puts writeKey on the batch; others on each message
                key = _decode_message(raws[0]).write_key
            except (msgspec.DecodeError, msgspec.ValidationError):
                key = None
        grant = grant_for(request, _write_key(key))
        if grant is None:
            return _error(
                401,
                "unauthorized",
                "a valid write key (HTTP Basic user name) is required",
                {"WWW-Authenticate": 'Basic realm="analytics-collect"'},
            )
        service = grant.default_service or "segment"
        if not grant.may_write(service):
            return _error(403, "forbidden", f"this token may not write {service!r}")
        wait = limiter.take(grant.key, len(raws))
        if wait:
            return _error(
                429,
                "rate_limited",
                "event rate limit exceeded for this token",
                {"Retry-After": str(int(wait))},
            )
        policy = Policy(service=service, strict=grant.strict, keep_personal=keep_personal)
        received = _dt.datetime.now(_dt.UTC)
        known = classes
        rows, indices, refused = _map(raws, call, single, policy, received, sent_at, known)
        delivery: CollectorDelivery = state["delivery"]
        try:
            outcome = await delivery.store(rows)
        except NotMigrated:
            counts["events_unavailable"] += len(rows)
            return _error(409, "not_migrated", DATABASE_ERRORS[ErrorKind.NOT_MIGRATED][2])
        except Unavailable:
            counts["events_unavailable"] += len(rows)
            return _error(
                503,
                "unavailable",
                "storage unavailable; nothing was stored",
                {"Retry-After": str(config.retry_after_secs)},
            )
        if outcome.refused:
            for row, index in zip(rows, indices, strict=True):
                reason = outcome.refused.get(row[1])
                if reason is not None:
                    refused.append((index, f"refused by the database: {reason}", row[2]))
        if refused:
            digest = hashlib.blake2b(body, digest_size=16).digest()
            await delivery.dead_letter(
                [
                    delivery.refusal(
                        bytes(raws[i]),
                        event_type,
                        service,
                        reason,
                        key=digest + i.to_bytes(8, "big") + reason.encode(),
                    )
                    for i, reason, event_type in refused
                ]
            )
        refused.sort()
        received_n = len(rows) - len(outcome.refused)
        counts["events_received"] += received_n
        counts["events_rejected"] += len(refused)
        if call is not None and refused:
            return _error(400, "bad_request", refused[0][1])
        return _json(
            {
                "success": True,
                "received": received_n,
                "rejected": [
                    {"index": i, "reason": reason, "type": event_type}
                    for i, reason, event_type in refused
                ],
            }
        )

    responses: dict[int | str, dict[str, Any]] = {
        200: {"description": "Every accepted message is durably stored; refused ones listed"},
        400: {"description": "Not JSON / not a Segment message (single calls: refused)"},
        401: {"description": "No valid write key"},
        403: {"description": "The token may not write its service"},
        409: {"description": "The database is not migrated: run analytics-migrate"},
        413: {"description": "Over 500 KB (batch) or 32 KB (single call)"},
        429: {"description": "The token's event rate is exhausted (see Retry-After)"},
        503: {"description": "Storage unavailable and no spool room (see Retry-After)"},
    }
    security: dict[str, Any] = {"security": [{"basic": []}, {"bearer": []}]}

    async def post_batch(request: Request) -> Response:
        response = await handle(request, None)
        counts["responses"][str(response.status_code)] += 1
        return response

    endpoints: dict[str, Callable[[Request], Awaitable[Response]]] = {"/v1/batch": post_batch}
    app.post("/v1/batch", responses=responses, openapi_extra=_body(security, True))(post_batch)
    for call in CALL_TYPES:
        endpoint = endpoints[f"/v1/{call}"] = _single(handle, counts, call)
        app.post(f"/v1/{call}", responses=responses, openapi_extra=_body(security, False))(endpoint)
    return endpoints


def _map(  # noqa: PLR0917 - the request's parts, passed on
    raws: list[MessageBytes],
    call: str | None,
    single: SegmentMessage | None,
    policy: Policy,
    received: _dt.datetime,
    sent_at: str | None,
    classes: Mapping[str, type[Event]],
) -> tuple[list[Row], list[int], list[tuple[int, str, str | None]]]:
    """Each message's row, or its refusal ``(index, reason, type)``."""
    rows: list[Row] = []
    indices: list[int] = []
    refused: list[tuple[int, str, str | None]] = []
    row_of = Mapper(policy=policy, received=received, batch_sent_at=sent_at, classes=classes).row
    for index, raw in enumerate(raws):
        try:
            if len(raw) > MAX_MESSAGE_BYTES:
                raise Refused(f"the message exceeds {MAX_MESSAGE_BYTES} bytes")
            message = single if single is not None else _decode_message(raw)
            kind = call or message.type
            if kind not in CALL_TYPES:
                raise Refused(f"type must be one of {', '.join(CALL_TYPES)}, got {kind!r}")
            rows.append(row_of(message, kind, raw))
            indices.append(index)
        except (msgspec.DecodeError, msgspec.ValidationError) as err:
            refused.append((index, f"not a Segment message: {str(err)[:200]}", None))
        except Refused as err:
            refused.append((index, str(err), None))
    return rows, indices, refused


def _single(
    handle: Callable[[Request, str | None], Awaitable[Response]],
    counts: dict[str, Any],
    call: str,
) -> Callable[[Request], Awaitable[Response]]:
    async def post_call(request: Request) -> Response:
        response = await handle(request, call)
        counts["responses"][str(response.status_code)] += 1
        return response

    post_call.__name__ = f"post_{call}"
    return post_call


#: The message's JSON Schema (from the struct the routes decode with) and its components.
(_MESSAGE_SCHEMA,), SCHEMA_COMPONENTS = msgspec.json.schema_components(
    [SegmentMessage], ref_template="#/components/schemas/{name}"
)


def _body(security: dict[str, Any], batch: bool) -> dict[str, Any]:
    schema = (
        {
            "type": "object",
            "properties": {
                "batch": {"type": "array", "items": _MESSAGE_SCHEMA},
                "writeKey": {"type": "string"},
                "sentAt": {"type": "string"},
            },
            "required": ["batch"],
        }
        if batch
        else _MESSAGE_SCHEMA
    )
    return {
        **security,
        "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
    }
