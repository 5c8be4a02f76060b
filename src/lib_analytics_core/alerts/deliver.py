"""Webhook delivery from the outbox: at least once on the wire, once for the receiver.

Each pending row of ``analytics_alert_deliveries`` is POSTed as JSON with the header
``Idempotency-Key`` (the row's key: the same on every retry and after a restart). Each
row is sent in a transaction of its own that locks it (``FOR UPDATE SKIP LOCKED``: a
second evaluator never sends it at the same time) and records the answer: a 2xx marks it
delivered; a crash before the commit leaves it pending, so the window in which a crash
can cause a repeat is one round trip, and a repeat carries the same key. A
connection error, a timeout, 408, 429 or a 5xx is retried: the row's next attempt is
``at + backoff`` (:data:`BACKOFF_S`, doubling up to :data:`MAX_BACKOFF_S`), on the
evaluation's clock (``--at`` in a replay, now otherwise), so the change reaches the
receiver on the first evaluation after it is back. Any other 4xx is the receiver refusing
the message: the row is marked failed (``failed_at``, ``last_error``), visible in
``GET /v1/alerts``, and not retried.

Order: per webhook, rows go out in the order they were recorded, and a webhook whose
delivery failed (or whose older row another evaluator is sending) gets nothing more in
that pass, so a receiver never sees "resolved"
before the "firing" it resolves. Errors are stored without the URL (a Slack webhook's
URL is its secret).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
from dataclasses import dataclass
from typing import Any, Final

import httpx

from ..schema.facts import ALERT_DELIVERIES_TABLE
from .rules import AlertConfig

__all__ = ["BACKOFF_S", "MAX_BACKOFF_S", "DeliveryReport", "backoff", "deliver_pending"]

logger = logging.getLogger(__name__)

#: First retry delay, and the cap of the doubling delays.
BACKOFF_S: Final = 30.0
MAX_BACKOFF_S: Final = 300.0
#: Rows handled per pass at most (a receiver down for days must not stall an evaluation).
BATCH: Final = 200
_RETRY_4XX: Final = frozenset({408, 425, 429})


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0


def backoff(attempts: int) -> _dt.timedelta:
    """Delay before attempt ``attempts + 1`` (``attempts`` >= 1 made so far)."""
    return _dt.timedelta(seconds=min(BACKOFF_S * 2 ** max(attempts - 1, 0), MAX_BACKOFF_S))


async def deliver_pending(
    conn: Any,
    config: AlertConfig,
    at: _dt.datetime,
    *,
    client: httpx.AsyncClient | None = None,
) -> DeliveryReport:
    """Deliver the outbox rows due at ``at`` (module docstring)."""
    rows = await conn.fetch(
        f"SELECT id, webhook, idempotency_key, body::text AS body, attempts,"
        f" next_attempt_at <= $1 AS due FROM {ALERT_DELIVERIES_TABLE}"
        " WHERE delivered_at IS NULL AND failed_at IS NULL ORDER BY id LIMIT $2",
        at,
        BATCH,
    )
    if not any(r["due"] for r in rows):
        return DeliveryReport()
    own = client is None
    http = client or httpx.AsyncClient(follow_redirects=False)
    blocked: set[str] = set()
    delivered = retrying = failed = 0
    try:
        for r in rows:
            if r["webhook"] in blocked:
                continue
            if not r["due"]:  # an older row still backing off: keep the order
                blocked.add(r["webhook"])
                continue
            async with conn.transaction():
                # The row stays locked while it is sent: a second evaluator skips it (and
                # the rest of its webhook, to keep the order); a crash rolls back to pending.
                mine = await conn.fetchval(
                    f"SELECT id FROM {ALERT_DELIVERIES_TABLE} WHERE id = $1"
                    " AND delivered_at IS NULL AND failed_at IS NULL FOR UPDATE SKIP LOCKED",
                    r["id"],
                )
                if mine is None:
                    blocked.add(r["webhook"])
                    continue
                outcome = await _deliver_one(conn, config, http, r, at)
            if outcome == "delivered":
                delivered += 1
            elif outcome == "retry":
                blocked.add(r["webhook"])
                retrying += 1
            else:
                failed += 1
    finally:
        if own:
            await http.aclose()
    return DeliveryReport(delivered, retrying, failed)


async def _deliver_one(
    conn: Any, config: AlertConfig, http: httpx.AsyncClient, r: Any, at: _dt.datetime
) -> str:
    """POST row ``r`` and record the outcome (``delivered``, ``retry`` or ``failed``)."""
    hook = config.webhook(r["webhook"])
    if hook is None:
        await _fail(conn, r["id"], "webhook no longer in the alerting file")
        return "failed"
    outcome, error = await _post(http, hook.url, hook.timeout_s, r)
    if outcome == "delivered":
        await conn.execute(
            f"UPDATE {ALERT_DELIVERIES_TABLE} SET delivered_at = now(),"
            " attempts = attempts + 1, last_error = NULL WHERE id = $1",
            r["id"],
        )
    elif outcome == "retry":
        attempts = r["attempts"] + 1
        await conn.execute(
            f"UPDATE {ALERT_DELIVERIES_TABLE} SET attempts = $2,"
            " next_attempt_at = $3, last_error = $4 WHERE id = $1",
            r["id"],
            attempts,
            at + backoff(attempts),
            error,
        )
        logger.warning("alert webhook %s: %s; retrying (attempt %d)", hook.name, error, attempts)
    else:
        await _fail(conn, r["id"], error)
        logger.error("alert webhook %s refused a notification: %s", hook.name, error)
    return outcome


async def _fail(conn: Any, row_id: int, error: str) -> None:
    await conn.execute(
        f"UPDATE {ALERT_DELIVERIES_TABLE} SET failed_at = now(), attempts = attempts + 1,"
        " last_error = $2 WHERE id = $1",
        row_id,
        error,
    )


async def _post(http: httpx.AsyncClient, url: str, timeout_s: float, row: Any) -> tuple[str, str]:
    body = json.loads(row["body"])
    try:
        resp = await http.post(
            url,
            json=body,
            headers={"Idempotency-Key": row["idempotency_key"]},
            timeout=timeout_s,
        )
    except httpx.HTTPError as err:
        return "retry", f"{type(err).__name__} (receiver unreachable)"
    if 200 <= resp.status_code < 300:
        return "delivered", ""
    error = f"HTTP {resp.status_code}"
    if resp.status_code >= 500 or resp.status_code in _RETRY_4XX:
        return "retry", error
    return "failed", error
