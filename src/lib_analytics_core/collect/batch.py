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
from dataclasses import dataclass

import msgspec

from .._config import ClientMetadata
from ..events.wire import WireEvent
from ..ingest.encoding import EnrichedEvent
from .tokens import Grant

__all__ = ["Forbidden", "content_event_id", "enrich"]

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
_encode = msgspec.json.Encoder().encode
_VARIANT = 0b10 << 62


@dataclass(frozen=True, slots=True)
class Forbidden:
    """The first event whose service the token may not write (answered 403)."""

    index: int
    service: str


def _micros(timestamp: _dt.datetime) -> int:
    delta = timestamp - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


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
    micros = _micros(timestamp)
    h = hashlib.blake2b(digest_size=10)
    for part in (
        str(micros).encode(),
        event_type.encode(),
        event_json,
        service.encode(),
        (hostname or "").encode(),
        b"\x01" if hostname is None else b"\x00",
        (environment or "").encode(),
        b"\x01" if environment is None else b"\x00",
    ):
        h.update(len(part).to_bytes(8, "big"))  # length-prefixed: no ambiguity
        h.update(part)
    digest = int.from_bytes(h.digest(), "big")  # 80 bits
    ms = (micros // 1000) & 0xFFFF_FFFF_FFFF
    rand_a = digest >> 68  # 12 bits
    rand_b = digest & ((1 << 62) - 1)
    return uuid.UUID(int=(ms << 80) | (0x7 << 76) | (rand_a << 64) | _VARIANT | rand_b)


def enrich(
    accepted: list[WireEvent], grant: Grant
) -> tuple[list[tuple[int, EnrichedEvent, str]], Forbidden | None]:
    """``(index, EnrichedEvent, service)`` per accepted envelope, or the first forbidden
    service (then nothing is to be stored)."""
    out: list[tuple[int, EnrichedEvent, str]] = []
    default = grant.default_service
    for item in accepted:
        event = item.event
        service = event.concerned_service or item.service or default
        if service is None:
            # A ``*`` token with no service of its own, and the event names none.
            return [], Forbidden(item.index, "")
        if not grant.may_write(service):
            return [], Forbidden(item.index, service)
        event_id = item.event_id
        if event_id is None:
            event_id = content_event_id(
                item.timestamp,
                event.event_type,
                event_json=_encode(event),
                service=service,
                hostname=item.hostname,
                environment=item.environment,
            )
        metadata = ClientMetadata(
            service=service, hostname=item.hostname or "", environment=item.environment
        )
        out.append(
            (
                item.index,
                EnrichedEvent(
                    event=event, timestamp=item.timestamp, event_id=event_id, metadata=metadata
                ),
                service,
            )
        )
    return out, None
