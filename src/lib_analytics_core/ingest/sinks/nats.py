"""The bus sink: publish encoded batches to a NATS JetStream stream.

Instead of writing to PostgreSQL, the worker's delivery policy hands batches to this
sink, which publishes them to ``analytics.events.<service>`` and returns only once
JetStream has acknowledged every message (the stream has stored it, on a quorum of
replicas for an R3 stream). ``analytics-ingest`` replicas then store them.

Idempotence (the sink contract: a raise means "outcome unknown, redelivered"): each
message carries a ``Nats-Msg-Id`` derived from its content (first event id, row count
and a hash of the encoded body). A redelivery of the same rows splits them the same way
and so produces the same ids, which JetStream drops as duplicates within the stream's
duplicate window; outside it, the database's ``ON CONFLICT`` on ``("timestamp",
event_id)`` drops them. Either way a row is stored once.

Message size: one message per service per batch, split in halves (deterministically)
until each fits the server's ``max_payload`` (1 MiB by default). A single row larger
than that is refused (returned in ``SinkOutcome.refused``, then dead-lettered), never
raised: it could never be published, and retrying would block the batch behind it.

Producer-side dead letters go to ``analytics.deadletters.<service>`` in the same stream;
``analytics-ingest`` stores them in ``analytics_dead_letters``, exactly where the direct
path puts them, so operators look in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from ..._errors import BusError, ConfigurationError
from ..rows import Rejected, Row, refused_row, storable
from .base import SinkOutcome
from .nats_config import PAYLOAD_HEADROOM, BusConfig
from .nats_connect import ConnectionState, connect
from .nats_wire import encode_rejected, encode_rows

if TYPE_CHECKING:
    from nats.aio.client import Client as NATS
    from nats.js import JetStreamContext

    from ..._config import AnalyticsConfig

__all__ = ["NatsSink", "message_id", "presplit", "split_to_fit"]

_T = TypeVar("_T")

#: Close gives a flush this long; a dead server must not hold up shutdown.
_CLOSE_SECS = 2.0
#: JetStream de-duplicates on this header within the stream's duplicate window.
_MSG_ID = "Nats-Msg-Id"
#: Refused rows keep this much of their payload (the rest cannot be published either).
_REFUSED_PAYLOAD_CHARS = 1024


def message_id(first_event_id: object, count: int, body: bytes) -> str:
    """The JetStream de-duplication id of one message: same rows → same id."""
    digest = hashlib.blake2b(body, digest_size=12).hexdigest()
    return f"{first_event_id}-{count}-{digest}"


def split_to_fit(
    items: Sequence[_T], encode: Callable[[Sequence[_T]], bytes], limit: int
) -> tuple[list[tuple[Sequence[_T], bytes]], list[_T]]:
    """``items`` cut into consecutive chunks whose encoding is at most ``limit`` bytes.

    Deterministic (the same items always give the same chunks, hence the same message
    ids). Returns the chunks with their bodies, and the items too large on their own.
    """
    chunks: list[tuple[Sequence[_T], bytes]] = []
    oversize: list[_T] = []
    stack: list[Sequence[_T]] = [items]
    while stack:
        part = stack.pop()
        body = encode(part)
        if len(body) <= limit:
            chunks.append((part, body))
        elif len(part) == 1:
            oversize.append(part[0])
        else:
            # Cut into as many equal parts as the size suggests (one re-encode, not
            # log2(n)), pushed in reverse so chunks come out in row order.
            parts = min(len(part), -(-len(body) // limit) + 1)
            step = -(-len(part) // parts)
            pieces = [part[i : i + step] for i in range(0, len(part), step)]
            stack.extend(reversed(pieces))
    return chunks, oversize


def presplit(rows: Sequence[Row], limit: int) -> list[Sequence[Row]]:
    """Consecutive parts of ``rows`` whose *estimated* encoding fits ``limit``.

    Cheap (no encoding) and deterministic; it saves encoding a 20,000-row batch whole
    only to learn it is 10x too large, and lets :meth:`NatsSink.deliver` yield to the
    event loop between parts. :func:`split_to_fit` still checks the real sizes.
    """
    budget = int(limit * 0.9)
    parts: list[Sequence[Row]] = []
    start = size = 0
    for i, row in enumerate(rows):
        # JSON text + ~40 bytes of framing + the two short strings (chars ~ bytes).
        estimate = len(row[5]) + len(row[2]) + len(row[3]) + 48
        if size + estimate > budget and i > start:
            parts.append(rows[start:i])
            start, size = i, 0
        size += estimate
    parts.append(rows[start:])
    return parts


class NatsSink:
    """Publishes row batches to JetStream and waits for the acknowledgements."""

    name = "nats"

    def __init__(self, bus: BusConfig, *, client_name: str = "lib-analytics-core") -> None:
        self.bus = bus
        self._client_name = client_name
        self._nc: NATS | None = None
        self._js: JetStreamContext | None = None
        self._pid = os.getpid()
        self._lock: asyncio.Lock | None = None
        self.state = ConnectionState()
        #: Messages JetStream acknowledged; of those, ones it reported as duplicates.
        self.published = 0
        self.duplicates = 0

    @classmethod
    def from_config(cls, config: AnalyticsConfig) -> NatsSink:
        """The sink for ``config.transport`` (comma-separated ``nats://`` URLs)."""
        if not config.transport:
            raise ConfigurationError("NatsSink needs AnalyticsConfig.transport (nats:// URLs)")
        return cls(
            BusConfig.from_transport(config.transport),
            client_name=f"lib-analytics-core:{config.service_name}",
        )

    async def open(self) -> None:
        if os.getpid() != self._pid:
            # A forked child inherited the parent's socket: never use (or close) it.
            self._nc, self._js, self._lock, self._pid = None, None, None, os.getpid()
        if self._nc is not None and not self._nc.is_closed:
            return
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._nc is not None and not self._nc.is_closed:
                return
            self._nc = await connect(self.bus, name=self._client_name, state=self.state)
            self._js = self._nc.jetstream()

    def _limit(self) -> int:
        assert self._nc is not None
        return max(1024, int(self._nc.max_payload) - PAYLOAD_HEADROOM)

    async def deliver(
        self,
        rows: Sequence[Row],
        *,
        redelivery: bool,
        timeout: float,  # noqa: ASYNC109 - the policy's budget for the whole call
    ) -> SinkOutcome:
        """Publish ``rows`` (one or more messages) and wait until all are acknowledged.

        ``redelivery`` needs no special path: message ids make every delivery idempotent.
        """
        del redelivery
        if not rows:
            return SinkOutcome(0)
        await self._open_within(timeout)
        by_service: dict[str, list[Row]] = {}
        for row in rows:
            by_service.setdefault(row[3], []).append(row)
        limit = self._limit()
        messages: list[tuple[str, Sequence[Row], bytes]] = []
        refused: list[Rejected] = []
        oversize: list[Row] = []
        for service, service_rows in by_service.items():
            subject = self.bus.events_subject(service)
            for part in presplit(service_rows, limit):
                chunks, too_big = split_to_fit(part, encode_rows, limit)
                messages.extend((subject, chunk, body) for chunk, body in chunks)
                oversize.extend(too_big)
                # Encoding is CPU work on the application's loop: a few ms per message,
                # then let other coroutines run (the worker does the same while encoding).
                await asyncio.sleep(0)
        refused.extend(
            refused_row(
                r,
                f"event too large for the bus: its message exceeds the server's "
                f"max_payload ({limit + PAYLOAD_HEADROOM} bytes)",
                payload_chars=_REFUSED_PAYLOAD_CHARS,
            )
            for r in oversize
        )
        await self._publish_all(
            [(s, message_id(chunk[0][1], len(chunk), body), body) for s, chunk, body in messages],
            timeout,
        )
        return SinkOutcome(len(rows) - len(refused), refused)

    async def dead_letter(
        self,
        refused: Sequence[Rejected],
        *,
        timeout: float,  # noqa: ASYNC109
    ) -> None:
        """Publish refused rows to ``analytics.deadletters.<service>`` (same stream)."""
        if not refused:
            return
        await self._open_within(timeout)
        by_service: dict[str, list[Rejected]] = {}
        for r in refused:
            by_service.setdefault(r.service, []).append(r)
        limit = self._limit()
        out: list[tuple[str, str, bytes]] = []
        for service, items in by_service.items():
            trimmed = [_trim(r) for r in items]
            chunks, _ = split_to_fit(trimmed, encode_rejected, limit)
            subject = self.bus.dead_letter_subject(service)
            out.extend(
                (subject, "dl-" + message_id(chunk[0].event_id, len(chunk), body), body)
                for chunk, body in chunks
            )
        await self._publish_all(out, timeout)

    async def _open_within(self, timeout: float) -> None:  # noqa: ASYNC109
        try:
            await asyncio.wait_for(self.open(), timeout)
        except TimeoutError as err:
            raise BusError(f"connecting to NATS took longer than {timeout:.1f}s") from err

    async def _publish_all(
        self,
        messages: list[tuple[str, str, bytes]],
        timeout: float,  # noqa: ASYNC109
    ) -> None:
        js = self._js
        assert js is not None
        coros = [
            js.publish(
                subject, body, timeout=timeout, stream=self.bus.stream, headers={_MSG_ID: mid}
            )
            for subject, mid, body in messages
        ]
        try:
            acks: list[Any] = await asyncio.wait_for(asyncio.gather(*coros), timeout)
        except Exception as err:
            raise _translate(err, self.bus.stream) from err
        self.published += len(acks)
        self.duplicates += sum(1 for ack in acks if ack.duplicate)

    async def close(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        if nc is None or os.getpid() != self._pid:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(nc.close(), _CLOSE_SECS)


def _trim(r: Rejected) -> Rejected:
    r = storable(r)  # a lone surrogate would not even encode to msgpack
    if len(r.payload) <= _REFUSED_PAYLOAD_CHARS and len(r.error) <= 2000:
        return r
    return Rejected(
        r.timestamp,
        r.event_id,
        r.event_type,
        r.service,
        r.payload[:_REFUSED_PAYLOAD_CHARS],
        r.error[:2000],
        r.sqlstate,
    )


def _translate(err: BaseException, stream: str) -> BusError:
    """A publish failure as our error, with the likely cause spelled out."""
    name = type(err).__name__
    if name == "NoStreamResponseError":
        return BusError(
            f"no JetStream stream answers on the analytics subjects (is {stream} set up? "
            "run `analytics-bus setup`)"
        )
    if isinstance(err, TimeoutError):
        return BusError("NATS did not acknowledge the publish in time (outcome unknown)")
    return BusError(f"publish to NATS failed: {name}: {err}")
