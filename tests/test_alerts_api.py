"""``GET /v1/alerts`` and ``GET /v1/slos`` through the API's token and read-only role,
against what the evaluator recorded and a recount of the raw events."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from lib_analytics_core.alerts import parse_config
from lib_analytics_core.alerts.engine import evaluate_once
from lib_analytics_core.api import create_app

from ._alerts import write_requests
from .test_api import AUTH, TOKEN, with_user

UTC = dt.UTC
T = dt.datetime(2026, 11, 20, tzinfo=UTC)
M = dt.timedelta(minutes=1)
CONFIG = parse_config(
    """
[[slo]]
name = "platform-availability"
service = "platform"
kind = "availability"
objective = 0.995
window = "7d"

[[slo]]
name = "platform-latency"
service = "platform"
kind = "latency"
threshold_ms = 300
objective = 0.99

[[threshold]]
name = "errors"
event_type = "api_request"
measure = "error_rate"
above = 0.5
over = "5m"
"""
)


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    name = f"lac_alerts_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(database_url)
    await conn.execute(f"CREATE ROLE {name} LOGIN PASSWORD 'pw' IN ROLE analytics_reader")
    try:
        app = create_app(with_user(database_url, name), TOKEN)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
                yield c
    finally:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", name
        )
        await conn.execute(f"DROP OWNED BY {name}")
        await conn.execute(f"DROP ROLE {name}")
        await conn.close()


async def test_alerts_and_slos_say_what_the_evaluator_decided(
    db: asyncpg.Connection, api: httpx.AsyncClient
) -> None:
    await write_requests(db, T - dt.timedelta(days=8), T, 0.003)
    await write_requests(db, T, T + 20 * M, 1.0)
    for at in (T, T + 10 * M):
        await evaluate_once(db, CONFIG, at=at)

    for path in ("/v1/alerts", "/v1/slos"):
        assert (await api.get(path)).status_code == 401
    r = await api.get("/v1/alerts", headers=AUTH)
    assert r.status_code == 200, r.text
    body = r.json()
    states = {s["rule"]: s for s in body["states"]}
    assert set(states) == {"platform-availability", "platform-latency", "errors"}
    assert states["platform-availability"]["state"] == "firing"
    assert states["platform-availability"]["severity"] == "page"
    assert states["platform-latency"]["state"] == "ok"
    assert states["errors"]["severity"] == "page" and states["errors"]["value"]["value"] == 1.0
    assert [(h["rule"], h["state"]) for h in body["history"]] == [
        ("errors", "firing"),
        ("platform-availability", "firing"),
    ] or [(h["rule"], h["state"]) for h in body["history"]] == [
        ("platform-availability", "firing"),
        ("errors", "firing"),
    ]
    one = (await api.get("/v1/alerts", params={"rule": "errors", "limit": 1}, headers=AUTH)).json()
    assert [s["rule"] for s in one["states"]] == ["errors"] and len(one["history"]) == 1
    assert (await api.get("/v1/alerts", params={"limit": 0}, headers=AUTH)).status_code == 422

    r = await api.get("/v1/slos", headers=AUTH)
    assert r.status_code == 200, r.text
    slos = {s["name"]: s for s in r.json()}
    avail = slos["platform-availability"]
    # Recount: the 7 days before T+10m: 7 x 8640 requests at 0.3 % bad, then 60 bad.
    lo, hi = T + 10 * M - dt.timedelta(days=7), T + 10 * M
    recount = await db.fetchrow(
        "SELECT count(*), count(*) FILTER (WHERE (data->>'status_code')::int >= 500)"
        ' FROM analytics_events WHERE "timestamp" >= $1 AND "timestamp" < $2',
        lo,
        hi,
    )
    assert recount is not None
    total, bad = recount
    assert (avail["requests"], avail["bad"]) == (total, bad)
    assert avail["attainment"] == pytest.approx(1 - bad / total)
    assert avail["budget_remaining"] == pytest.approx(1 - (bad / total) / 0.005)
    assert avail["window"] == "7d" and avail["severity"] == "page"
    assert avail["as_of"].startswith("2026-11-20T00:10:00")
    latency = slos["platform-latency"]
    assert latency["bad"] == 0 and latency["budget_remaining"] == 1.0 and latency["window"] == "30d"
