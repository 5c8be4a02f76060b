"""From accepted wire envelopes to ``EnrichedEvent``s: the row's service and its id.

**Service.** An event's own ``service`` field (``ApiRequest``, ``DatabaseQuery``,
``ApplicationError``) wins, then the envelope's ``service`` (this project's extension),
then the token's first service. The whole request is refused (403) when any event
names a service its token may not write: authorisation is decided before anything is
stored, so a 403 never leaves half a batch behind.

**Exactly once.** A retried batch must be stored once. The row key is
``("timestamp", event_id)`` and the collector writes with the idempotent INSERT
(``ON CONFLICT DO NOTHING``), so what matters is that a retry carries the same ids:

* an envelope with ``event_id`` keeps it (this project's clients send one);
* otherwise the id is derived from the content: a UUIDv7 whose time bits are the
  event's timestamp (so ids stay time-ordered in the index) and whose 74 random bits
  are a BLAKE2b hash of the timestamp, the event type, the event's canonical JSON (its
  fields in declaration order, after validation, so key order and whitespace do not
  matter), hostname, environment and service.

Consequence, documented in ``docs/collector.md``: two events that agree in all of those,
down to the microsecond, *are* one event to the collector: the second is stored as a
duplicate of the first, i.e. not at all. Seed clients stamp events when tracked, with
sub-microsecond clocks; a client that really emits identical events in the same
microsecond must send distinct ``event_id``s.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Any

import msgspec

from .._config import ClientMetadata
from ..events.wire import WireEvent
from ..ingest.encoding import BeforeTrack, EnrichedEvent
from .tokens import Grant

__all__ = [
    "Enriched",
    "Enrichment",
    "Forbidden",
    "content_event_id",
    "enrich",
    "uuid_of_bytes",
]

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
_MICROSECOND = _dt.timedelta(microseconds=1)
_encode = msgspec.json.Encoder().encode
_blake2b = hashlib.blake2b
#: BLAKE2b with the content id's 10-byte digest, nothing hashed yet (copied per event).
_EMPTY_STATE = hashlib.blake2b(digest_size=10)
_from_bytes = int.from_bytes
#: A UUID's version 7 (bits 76-79) and RFC 4122 variant (bits 62-63).
_VERSION_VARIANT = (0x7 << 76) | (0x2 << 62)

_PgUUID: Any
try:
    # asyncpg's UUID: a C subclass of ``uuid.UUID`` (equal and hashed alike), built from
    # 16 bytes several times faster than ``uuid.UUID(int=...)``, and the one type its
    # COPY encoder copies without calling the ``.bytes`` property.
    from asyncpg.pgproto.pgproto import UUID as _PgUUID
except ImportError:  # pragma: no cover - a future asyncpg without it
    _PgUUID = None


def uuid_of_bytes(value: bytes) -> uuid.UUID:
    """``uuid.UUID(bytes=value)``, as asyncpg's C UUID where there is one."""
    if _PgUUID is not None:
        fast: uuid.UUID = _PgUUID(value)
        return fast
    return uuid.UUID(bytes=value)


@dataclass(frozen=True, slots=True)
class Forbidden:
    """The first event whose service the token may not write (answered 403)."""

    index: int
    service: str


def content_event_id(
    timestamp: _dt.datetime,
    event_type: str,
    *,
    event_json: bytes,
    service: str,
    hostname: str | None,
    environment: str | None,
) -> uuid.UUID:
    """The deterministic id of an event sent without one (see the module docstring)."""
    return _Source(service, hostname, environment).content_id(timestamp, event_type, event_json)


class _Source:
    """What a request's events from one service, host and environment share: their row
    metadata and the tail of the content id's header (encoded once, not per event)."""

    __slots__ = ("metadata", "tail", "types")

    def __init__(self, service: str, hostname: str | None, environment: str | None) -> None:
        self.metadata = ClientMetadata(
            service=service, hostname=hostname or "", environment=environment
        )
        # The header is the JSON array ``[micros, event_type, service, hostname,
        # environment]``, so it ends unambiguously where the event's JSON begins: one
        # hash over the two, no separators to get wrong. Its last three items, as
        # msgspec encodes them, are the same for the whole source.
        self.tail = _encode((service, hostname, environment))[1:]
        self.types: dict[str, bytes] = {}

    def content_id(self, timestamp: _dt.datetime, event_type: str, event_json: bytes) -> uuid.UUID:
        micros = (timestamp - _EPOCH) // _MICROSECOND
        encoded_type = self.types.get(event_type)
        if encoded_type is None:
            encoded_type = self.types[event_type] = _encode(event_type)
        # BLAKE2b over the header and the event's JSON, as one message: a copy of an
        # empty state fed twice gives the digest of their concatenation without
        # building it, nor parsing the constructor's keywords per event.
        state = _EMPTY_STATE.copy()
        state.update(b"[%d,%s,%s" % (micros, encoded_type, self.tail))
        state.update(event_json)
        d = _from_bytes(state.digest())  # the digest's 80 bits
        # The UUIDv7: 48 bits of milliseconds; version 7 and the digest's top 12 bits
        # (rand_a); the variant and the digest's low 62 bits (rand_b), one integer.
        # tests/unit/test_collect_pieces.py compares it with the reference.
        return uuid_of_bytes(
            (
                (((micros // 1000) & 0xFFFF_FFFF_FFFF) << 80)
                | ((d >> 68) << 64)
                | (d & 0x3FFF_FFFF_FFFF_FFFF)
                | _VERSION_VARIANT
            ).to_bytes(16)
        )


#: ``(index in the request, the EnrichedEvent, its row service, the event's JSON)``.
Enriched = tuple[int, EnrichedEvent, str, bytes]


@dataclass(slots=True)
class Enrichment:
    """What :func:`enrich` made of a request's accepted envelopes."""

    events: list[Enriched] = field(default_factory=list)
    forbidden: Forbidden | None = None
    """The first event naming a service the token may not write: store nothing (403)."""
    dropped: int = 0
    """Events the hook chose not to store (counted as received, as ``track()`` does)."""
    refused: list[tuple[int, str]] = field(default_factory=list)
    """Events whose hook raised: refused with the reason, as the worker refuses them."""


def enrich(
    accepted: list[WireEvent], grant: Grant, before_track: BeforeTrack | None = None
) -> Enrichment:
    """One :data:`Enriched` per accepted envelope, or the first forbidden service.

    ``before_track`` is the same hook ``track()``'s worker runs (by default the privacy
    policy, which drops ``AuthLoginAttempt.email``). It runs *before* the content id is
    computed, so no id is ever a hash over a value the policy removed. The event's JSON,
    needed for the id, is passed on so the row encoder does not encode it again.
    """
    result = Enrichment()
    out = result.events
    default = grant.default_service
    allowed: dict[str, bool] = {}
    sources: dict[tuple[str, str | None, str | None], _Source] = {}
    for item in accepted:
        event = item.event
        service = event.concerned_service or item.service or default
        if service is None:
            # A ``*`` token with no service of its own, and the event names none.
            return Enrichment(forbidden=Forbidden(item.index, ""))
        ok = allowed.get(service)
        if ok is None:
            ok = allowed[service] = grant.may_write(service)
        if not ok:
            return Enrichment(forbidden=Forbidden(item.index, service))
        if before_track is not None:
            try:
                changed = before_track(event)
            except Exception as err:  # this event only; the worker refuses it the same way
                reason = f"before_track raised {type(err).__name__}"
                result.refused.append((item.index, reason))
                continue
            if changed is None:
                result.dropped += 1
                continue
            event = changed
        key = (service, item.hostname, item.environment)
        source = sources.get(key)
        if source is None:
            source = sources[key] = _Source(service, item.hostname, item.environment)
        event_json = _encode(event)
        event_id = item.event_id
        if event_id is None:
            event_id = source.content_id(item.timestamp, event.event_type, event_json)
        enriched = EnrichedEvent(
            event=event, timestamp=item.timestamp, event_id=event_id, metadata=source.metadata
        )
        out.append((item.index, enriched, service, event_json))
    return result
