"""Events for the explore and timeline tests: a custom event class defined here (unknown
to the library), written through the real client and worker by three producers with
different host/release/environment metadata, plus rows a foreign producer stored with
odd values (a number as a string, null, absent, decimals, a negative), and seed events of
a built-in type (``api_request``)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import uuid
from typing import Any, ClassVar

import asyncpg

import lib_analytics_core as lac

DAY = dt.timedelta(days=1)
USERS = [uuid.UUID(int=0xE000 + i, version=4) for i in range(7)]
CURRENCIES = ["EUR", "USD", "GBP", "JPY", "CHF"]
PRODUCERS: list[dict[str, Any]] = [
    {"service_name": "billing", "hostname": "h1", "release": "r1", "environment": "prod"},
    {"service_name": "billing", "hostname": "h2", "release": "r2", "environment": "prod"},
    {"service_name": "web", "hostname": "h3", "release": None, "environment": "staging"},
]


class InvoicePaidX(lac.Event):
    """A service's own event class, defined in the test, unknown to the library."""

    event_type: ClassVar[str] = "invoice_paid_x"
    amount_cents: int
    currency: str
    coupon: str | None = None
    discount: float | None = None
    paid: bool = True
    user_id: uuid.UUID | None = None


def start_of(now: dt.datetime) -> dt.datetime:
    """The first day of the seeded history (6 whole days before today)."""
    return now.replace(hour=0, minute=0, second=0, microsecond=0) - 6 * DAY


async def write(dsn: str, now: dt.datetime, n: int = 400, seed: int = 5) -> None:
    rng = random.Random(seed)
    d0 = start_of(now)
    span = (now - d0).total_seconds()
    plans: list[list[tuple[dt.datetime, lac.Event]]] = [[] for _ in PRODUCERS]
    for i in range(n):
        when = d0 + dt.timedelta(seconds=rng.random() * span)
        user = rng.choice(USERS) if rng.random() < 0.85 else None
        if i % 4 == 3:
            event: lac.Event = lac.ApiRequest(
                service=rng.choice(["api", "auth"]),
                method=rng.choice(["GET", "POST"]),
                endpoint=rng.choice(["/v1/a", "/v1/b"]),
                status_code=rng.choice([200, 200, 404, 500]),
                duration_ms=rng.randrange(1, 900),
                user_id=user,
            )
        else:
            event = InvoicePaidX(
                amount_cents=rng.choice([0, 100, 150, 999, 2500, rng.randrange(-50, 10_000)]),
                currency=rng.choice(CURRENCIES[: 2 + i % 4]),
                coupon=rng.choice([None, None, "SAVE10", "", "true"]),
                discount=rng.choice([None, 0.5, 12.25, 3.0]),
                paid=rng.random() < 0.8,
                user_id=user,
            )
        plans[rng.randrange(len(PRODUCERS))].append((when, event))
    for producer, plan in zip(PRODUCERS, plans, strict=True):  # one at a time: PGlite
        await _produce(dsn, producer, plan)  # serves one connection
    await _foreign(dsn, d0, now)


async def _produce(
    dsn: str, producer: dict[str, object], plan: list[tuple[dt.datetime, lac.Event]]
) -> None:
    client, cfg = lac.AnalyticsClient.new(batch_size=200, flush_interval_secs=0.1, **producer)
    worker = lac.AnalyticsWorker(cfg, dsn)
    task = asyncio.create_task(worker.run())
    for when, event in plan:
        client.track_at(event, when)
    report = await worker.shutdown(timeout=60)
    await task
    assert report.lost == 0 and worker.stats().rejected == 0, (report, worker.stats())


async def _foreign(dsn: str, d0: dt.datetime, now: dt.datetime) -> None:
    """Rows of the same type as another producer stored them: odd values on purpose."""
    odd = [
        {"amount_cents": "150", "currency": "EUR"},
        {"amount_cents": None, "currency": "USD"},
        {"currency": "EUR", "_meta": {"host": "h9"}},
        {"amount_cents": 12.50, "currency": "eur", "discount": -1.5},
        {"amount_cents": -3, "currency": None, "paid": False},
        {"amount_cents": 1e3, "currency": "EUR", "coupon": "SAVE10"},
        {"amount_cents": 150.0, "currency": "USD", "_meta": {"host": "h1", "env": "prod"}},
    ]
    conn = await asyncpg.connect(dsn, statement_cache_size=0)
    try:
        span = (now - d0).total_seconds()
        for i, data in enumerate(odd * 3):
            when = d0 + dt.timedelta(seconds=span * (i + 0.5) / (len(odd) * 3))
            await conn.execute(
                "INSERT INTO analytics_events"
                ' ("timestamp", event_id, event_type, service, user_id, data)'
                " VALUES ($1, $2, 'invoice_paid_x', 'legacy', $3, $4::jsonb)",
                when,
                uuid.UUID(int=0xF000 + i, version=4),
                USERS[i % 3] if i % 2 else None,
                json.dumps(data),
            )
    finally:
        await conn.close()
