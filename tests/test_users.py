"""A user's timeline and summary (read/users.py, /v1/users/...) against the reference
over the raw rows: pages newest first, the cursor never skips nor repeats an event (equal
timestamps included), the event-type filter, typed decoding of known classes, and no
timeline for an erased user. Plain PostgreSQL and the timescale tier."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

import lib_analytics_core as lac
from lib_analytics_core import QueryError
from lib_analytics_core.api import create_app
from lib_analytics_core.read import users
from tests import _explore_reference as ref
from tests import _explore_seed as seed

TOKEN = "users-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def _ties(conn: asyncpg.Connection, user: uuid.UUID, now: dt.datetime) -> None:
    """Five events of one user at the very same instant: the cursor must order them."""
    for i in range(5):
        await conn.execute(
            "INSERT INTO analytics_events"
            ' ("timestamp", event_id, event_type, service, user_id, data)'
            " VALUES ($1, $2, 'tie_event', 'x', $3, '{\"i\": 1}'::jsonb)",
            now - dt.timedelta(hours=30),
            uuid.UUID(int=0xAB00 + i * 7919, version=4),
            user,
        )


async def _walk(
    db: asyncpg.Connection, user: uuid.UUID, limit: int, event_type: str | None
) -> list[users.TimelineEvent]:
    out: list[users.TimelineEvent] = []
    before: str | None = None
    while True:
        page = await users.user_timeline(
            db, user_id=str(user), before=before, limit=limit, event_type=event_type
        )
        out.extend(page.events)
        if page.next_before is None:
            return out
        assert len(page.events) == limit
        before = page.next_before


async def _check_timelines(conn: asyncpg.Connection) -> None:
    rows = await ref.raw_rows(conn)
    for user in seed.USERS[:4]:
        for limit, event_type in ((7, None), (100, None), (3, "invoice_paid_x")):
            got = await _walk(conn, user, limit, event_type)
            want = ref.timeline(rows, user, event_type)
            assert [(e.timestamp, e.event_id) for e in got] == [
                (r.timestamp, r.event_id) for r in want
            ]
        summary = await users.user_summary(conn, user_id=user)
        mine = [r for r in rows if r.user_id == user]
        assert summary.events == len(mine)
        assert summary.counts == dict(Counter(r.event_type for r in mine))
        assert summary.first_seen == min(r.timestamp for r in mine)
        assert summary.last_seen == max(r.timestamp for r in mine)


@pytest.fixture
async def seeded(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url)
    now: dt.datetime = await conn.fetchval("SELECT now()")
    await seed.write(database_url, now)
    await _ties(conn, seed.USERS[0], now)
    yield conn
    await conn.close()


async def test_pages_walk_the_whole_timeline_newest_first(seeded: asyncpg.Connection) -> None:
    await _check_timelines(seeded)


async def test_known_classes_decode_as_typed_events(seeded: asyncpg.Connection) -> None:
    page = await users.user_timeline(seeded, user_id=seed.USERS[1], limit=1000)
    kinds = {e.event_type: e for e in page.events}
    invoice = kinds["invoice_paid_x"]
    assert invoice.typed and invoice.data["user_id"] == str(seed.USERS[1])
    assert set(invoice.data) >= {"amount_cents", "currency", "paid"}
    assert invoice.meta["host"] in {"h1", "h2", "h3"}
    assert kinds["api_request"].typed
    # a row a class cannot decode (the foreign producer's string amount) is shown as stored
    odd = [e for e in page.events if e.service == "legacy"]
    assert all(not e.typed for e in odd if not isinstance(e.data.get("amount_cents"), int))


async def test_bad_ids_and_cursors_are_query_errors(seeded: asyncpg.Connection) -> None:
    for bad in ("", "x" * 300):
        with pytest.raises(QueryError, match="UUID"):
            await users.user_timeline(seeded, user_id=bad)
    # Any other string is a Segment client's user id (issue 28): mapped, here unknown.
    assert (await users.user_timeline(seeded, user_id="bob")).events == []
    for cursor in ("12_zz", "yesterday", "99999999999999999999_" + "0" * 32):
        with pytest.raises(QueryError, match="before"):
            await users.user_timeline(seeded, user_id=seed.USERS[0], before=cursor)


@pytest.fixture
async def client(seeded: asyncpg.Connection, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(database_url, TOKEN, cache_ttl_s=0)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
            yield c


async def test_routes_page_and_an_erased_user_has_no_timeline(
    seeded: asyncpg.Connection, client: httpx.AsyncClient, database_url: str
) -> None:
    user = seed.USERS[2]
    seen: list[str] = []
    params: dict[str, str | int] = {"limit": 5}
    while True:
        r = await client.get(f"/v1/users/{user}/events", params=params, headers=AUTH)
        assert r.status_code == 200, r.text
        body = r.json()
        seen.extend(e["event_id"] for e in body["events"])
        if body["next_before"] is None:
            break
        params = {"limit": 5, "before": body["next_before"]}
    want = ref.timeline(await ref.raw_rows(seeded), user, None)
    assert seen == [str(r.event_id) for r in want]
    summary = (await client.get(f"/v1/users/{user}", headers=AUTH)).json()
    assert summary["events"] == len(want)
    unknown = await client.get("/v1/users/not-a-user/events", headers=AUTH)
    assert unknown.status_code == 404  # a Segment-style id, mapped; no events stored

    assert await lac.forget_user(database_url, user) >= len(want)
    for path in (f"/v1/users/{user}/events", f"/v1/users/{user}"):
        gone = await client.get(path, headers=AUTH)
        assert gone.status_code == 404, (path, gone.text)
    missing = await client.get(f"/v1/users/{uuid.uuid4()}", headers=AUTH)
    assert missing.status_code == 404
    assert missing.json() == {"error": "not_found", "message": "no events stored for this user"}


@pytest.mark.timescale
async def test_timelines_on_the_timescale_tier(timescale_url: str) -> None:
    conn = await asyncpg.connect(timescale_url, statement_cache_size=0)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        await lac.migrate(conn)
        now: dt.datetime = await conn.fetchval("SELECT now()")
        await _ties(conn, seed.USERS[0], now)
    finally:
        await conn.close()
    await seed.write(timescale_url, now, n=200)
    conn = await asyncpg.connect(timescale_url, statement_cache_size=0)
    try:
        await conn.execute(
            "SELECT compress_chunk(c, if_not_compressed => true)"
            " FROM show_chunks('analytics_events', older_than => now() - interval '2 days') c"
        )
        await _check_timelines(conn)
    finally:
        await conn.close()
