"""The HTTP sink: delivers batches to an ``analytics-collect`` collector.

``AnalyticsConfig(transport="http://collector:8094")`` sends each batch as the seed
family's ``POST /events/batch`` body (with this project's ``event_id`` and ``service``,
so a retry is stored once and each row keeps its service). Everything else is the
delivery policy's, exactly as for the PostgreSQL and NATS sinks: retries with backoff,
the circuit, the spool, shutdown's deadline, the counters.

How answers map onto the sink contract (``base``):

* 200: delivered; the events the collector refused (listed with their index) come back
  as ``SinkOutcome.refused`` with the collector's reason and are dead-lettered;
* 429, 503, any other 5xx, a timeout or a cut connection: raised, so the policy retries
  (a *redelivery*: the event ids make it idempotent at the collector);
* 400, 401, 403, 413: the collector will never take these rows; they are refused with
  the answer as the reason (retrying a bad token forever would only fill the spool).

Requests carry at most ``MAX_EVENTS_PER_REQUEST`` events (the collector's own limit is
larger). The bearer token comes from ``ANALYTICS_COLLECT_TOKEN``, read once here and
never logged. Needs ``httpx`` (the ``http`` extra: ``pip install '.[http]'`` in a checkout).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import httpx
import msgspec

from ..._errors import AnalyticsError
from ...events.base import column_fields_of
from ..rows import Rejected, Row, refused_row
from .base import SinkOutcome

if TYPE_CHECKING:
    from ..._config import AnalyticsConfig

__all__ = ["MAX_EVENTS_PER_REQUEST", "TOKEN_VARIABLE", "CollectorRefused", "HttpSink"]

logger = logging.getLogger("lib_analytics_core")

MAX_EVENTS_PER_REQUEST = 1_000
TOKEN_VARIABLE = "ANALYTICS_COLLECT_TOKEN"  # noqa: S105 - a variable name, not a secret
_PERMANENT = frozenset({400, 401, 403, 413})

_decode_data = msgspec.json.Decoder(dict[str, Any]).decode
_encode = msgspec.json.Encoder().encode


class CollectorRefused(AnalyticsError):
    """The collector answered with a status worth retrying (429, 5xx)."""


def _envelope(row: Row) -> dict[str, Any]:
    timestamp, event_id, event_type, service, user_id, data = row
    fields = _decode_data(data)
    meta = fields.pop("_meta", {}) or {}
    # ``data`` leaves the fields its columns hold to the columns; the wire event is whole,
    # under the keys the class encodes those fields with.
    columns = {"user_id": user_id, "service": service}
    for field, key in column_fields_of(event_type).items():
        fields.setdefault(key, columns[field])
    return {
        "timestamp": timestamp.isoformat(),
        "event": {"type": event_type, **fields},
        "hostname": meta.get("host"),
        "environment": meta.get("env"),
        "event_id": str(event_id),
        "service": service,
    }


class HttpSink:
    """Delivers rows to a collector's ``POST /events/batch``."""

    name = "http"

    def __init__(self, base_url: str, *, token: str | None = None) -> None:
        self._url = base_url.rstrip("/") + "/events/batch"
        self._token = token
        self._client: httpx.AsyncClient | None = None

    @classmethod
    def from_config(cls, config: AnalyticsConfig) -> HttpSink:
        assert config.transport is not None
        return cls(config.transport, token=os.environ.get(TOKEN_VARIABLE) or None)

    def __repr__(self) -> str:  # never the token
        return f"HttpSink({self._url!r})"

    async def open(self) -> None:
        if self._client is None:
            headers = {"Content-Type": "application/json"}
            if self._token:
                headers["Authorization"] = f"Bearer {self._token}"
            self._client = httpx.AsyncClient(headers=headers)

    async def deliver(
        self,
        rows: Sequence[Row],
        *,
        redelivery: bool,
        timeout: float,  # noqa: ASYNC109 - the policy's budget for the whole call
    ) -> SinkOutcome:
        del redelivery  # every request carries event ids: always idempotent
        await self.open()
        assert self._client is not None
        delivered = 0
        refused: list[Rejected] = []
        # ``timeout`` is the whole call's budget: each request gets what is left of it.
        deadline = time.monotonic() + timeout
        for start in range(0, len(rows), MAX_EVENTS_PER_REQUEST):
            chunk = rows[start : start + MAX_EVENTS_PER_REQUEST]
            body = _encode([_envelope(r) for r in chunk])
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the delivery's budget ran out between requests")
            response = await self._client.post(self._url, content=body, timeout=left)
            status = response.status_code
            if status == 200:
                result = msgspec.json.decode(response.content)
                delivered += int(result.get("received", 0))
                for item in result.get("rejected", []):
                    row = chunk[int(item["index"])]
                    refused.append(_refused(row, f"collector: {item.get('reason', '')}"))
                continue
            if status in _PERMANENT:
                reason = f"collector answered {status}: {response.text[:300]}"
                refused.extend(_refused(row, reason) for row in chunk)
                continue
            raise CollectorRefused(f"collector answered {status}")
        return SinkOutcome(delivered, refused)

    async def dead_letter(self, refused: Sequence[Rejected], *, timeout: float) -> None:  # noqa: ASYNC109
        """The collector has no dead-letter endpoint: the policy keeps these in
        ``recent_rejections`` and counts them; log once per call (never the token)."""
        del timeout
        if refused:
            logger.warning(
                "analytics: the collector refused %d events (e.g. %s)",
                len(refused),
                refused[0].error[:200],
            )

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.aclose()
            except Exception as err:  # must not raise
                logger.debug("analytics: closing the HTTP client failed: %r", err)


def _refused(row: Row, reason: str) -> Rejected:
    return refused_row(row, reason[:2000], payload_chars=1024)
