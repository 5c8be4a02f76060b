"""Issue 29 item 2: health that is true.

* staleness is the age of the oldest source row an aggregate does not count yet, not
  the age of its bucket (``status --check`` said "stale (5.2h > 2.0h)" for rows one
  minute old);
* ``analytics-migrate status --check`` fails on an empty database, a half-migrated one
  (``pre`` only) and a really stale aggregate, and passes on a current one (it exited 0
  on the first two);
* ``/healthz`` is not "ok" on a database that is not migrated (it said ok), ``/v1/*``
  answers why, and ``/v1/health`` gives the banner product words (panels, since when).

Each failed on the code before this change (noted per test). Time of day never decides
an outcome: the rows' event times are chosen so their bucket began long before them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sys
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from lib_analytics_core import migrate
from lib_analytics_core.api import create_app
from lib_analytics_core.schema.facts import floor_day
from lib_analytics_core.schema.health import schema_health
from lib_analytics_core.schema.health_age import RESOLUTION

TOKEN = "test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TRENDS = ("analytics_event_trends_hourly", "analytics_event_trends_daily")


def _late_in_its_day(now: dt.datetime, age: dt.timedelta) -> dt.datetime:
    """An event time ``age`` ago, or further back, at least 15 minutes after the start
    of its UTC day (so a daily bucket's age exceeds the row's by that much)."""
    t = now - age
    if t - floor_day(t) < dt.timedelta(minutes=15):
        t = floor_day(t) - dt.timedelta(hours=6)
    return t


async def _insert(conn: asyncpg.Connection, at: dt.datetime) -> None:
    await conn.execute(
        'INSERT INTO analytics_events ("timestamp", event_id, event_type, service, data)'
        " VALUES ($1, gen_random_uuid(), 'quiet_type', 's', '{}')",
        at,
    )


async def test_a_row_just_written_is_not_stale_however_old_its_bucket(database_url: str) -> None:
    """Partitioned tier: the row arrived a moment ago (the invalidation log says when),
    so no aggregate is stale at a 5-minute threshold, however early its daily bucket
    began. Before: staleness = now - bucket start (>= 15 min here): failed."""
    conn = await asyncpg.connect(database_url)
    try:
        now = await conn.fetchval("SELECT now()")
        await _insert(conn, _late_in_its_day(now, dt.timedelta(seconds=1)))
        health = await schema_health(conn)
    finally:
        await conn.close()
    limit = dt.timedelta(minutes=5)
    assert health.problems(limit) == (), health.problems(limit)
    trends = {a.name: a for a in health.aggregates if a.name in TRENDS}
    assert set(trends) == set(TRENDS)
    assert all(a.missing_since is not None for a in trends.values())  # really missing...
    assert all(a.staleness < limit for a in trends.values())  # ...but only just


async def test_a_row_that_waited_is_stale_by_its_own_age(database_url: str) -> None:
    """A row logged three hours ago and never refreshed: stale by three hours (not by
    its bucket's age), at a two-hour threshold. Before: no arrival time (failed)."""
    conn = await asyncpg.connect(database_url)
    try:
        now = await conn.fetchval("SELECT now()")
        await _insert(conn, _late_in_its_day(now, dt.timedelta(hours=3)))
        await conn.execute(
            "UPDATE analytics_refresh_invalidations SET logged_at = now() - interval '3 hours'"
        )
        health = await schema_health(conn)
    finally:
        await conn.close()
    for a in health.aggregates:
        if a.name in TRENDS:
            assert dt.timedelta(hours=3) <= a.staleness < dt.timedelta(hours=3, minutes=2), a
    problems = health.problems(dt.timedelta(hours=2))
    assert any("analytics_event_trends_daily" in p for p in problems), problems


@pytest.mark.timescale
async def test_timescale_staleness_is_the_oldest_missing_rows_age(timescale_url: str) -> None:
    """Timescale tier (no scheduler, nothing refreshed): the missing row's age bounds
    the staleness, within ``RESOLUTION``. Before: measured from its bucket's start
    (>= 15 minutes more): failed."""
    conn = await asyncpg.connect(timescale_url)
    try:
        await migrate(conn, phase="all", tier="timescale")
        now = await conn.fetchval("SELECT now()")
        at = _late_in_its_day(now, dt.timedelta(minutes=30))
        await _insert(conn, at)
        health = await schema_health(conn)
        checked = health.checked_at
    finally:
        await conn.close()
    age = checked - at
    for a in health.aggregates:
        if a.name in TRENDS and a.staleness:  # a working scheduler may have refreshed it
            assert age <= a.staleness <= age + RESOLUTION, (a, age)


async def _status_check(url: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "lib_analytics_core.cli.migrate",
        "status",
        "--check",
        "--database-url",
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
    )
    out, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_status_check_fails_on_an_empty_and_a_half_migrated_database(
    empty_database_url: str,
) -> None:
    """Before: "0 applied, 11 pending" and "2 applied, 9 pending", both exit 0."""
    code, out = await _status_check(empty_database_url)
    assert code == 1 and "schema is missing" in out, out
    conn = await asyncpg.connect(empty_database_url)
    try:
        await migrate(conn, phase="pre")
    finally:
        await conn.close()
    code, out = await _status_check(empty_database_url)
    assert code == 1 and "pending" in out and "PROBLEM" in out, out


async def test_status_check_passes_when_current_and_fails_when_really_stale(
    database_url: str,
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        now = await conn.fetchval("SELECT now()")
        await _insert(conn, _late_in_its_day(now, dt.timedelta(seconds=1)))
        code, out = await _status_check(database_url)
        assert code == 0, out  # a fresh row: before, "stale (Nh > 2.0h)" later in the day
        await conn.execute(
            "UPDATE analytics_refresh_invalidations SET logged_at = now() - interval '3 hours'"
        )
        code, out = await _status_check(database_url)
        assert code == 1 and "analytics_event_trends_daily is stale" in out, out
    finally:
        await conn.close()


@pytest.fixture
async def api(empty_database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(empty_database_url, TOKEN, cache_ttl_s=0)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
            yield c


async def test_healthz_and_v1_name_a_database_that_is_not_migrated(
    api: httpx.AsyncClient,
) -> None:
    """Before: /healthz answered {"status":"ok","database":"ok"}."""
    r = await api.get("/healthz")
    assert r.status_code == 503 and r.json() == {"status": "degraded", "database": "not_migrated"}
    for path in ("/v1/overview", "/v1/tasks", "/v1/health"):
        r = await api.get(path, headers=AUTH)
        assert r.status_code == 503, (path, r.text)
        body = r.json()
        assert body["error"] == "not_migrated" and "analytics-migrate" in body["message"], body


async def test_v1_health_speaks_in_panels_for_the_banner(database_url: str) -> None:
    """``summary``/``behind`` name the dashboard's panels and since when, never a
    table; ``problems`` keep the operators' names. Before: no such fields (failed)."""
    conn = await asyncpg.connect(database_url)
    try:
        now = await conn.fetchval("SELECT now()")
        await _insert(conn, _late_in_its_day(now, dt.timedelta(hours=3)))
        await conn.execute(
            "UPDATE analytics_refresh_invalidations SET logged_at = now() - interval '3 hours'"
        )
    finally:
        await conn.close()
    app = create_app(database_url, TOKEN, cache_ttl_s=0)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
            body = (await c.get("/v1/health", headers=AUTH)).json()
            fine = (await c.get("/v1/health?max_staleness_minutes=600", headers=AUTH)).json()
    assert body["ok"] is False
    assert any("analytics_event_trends_daily" in p for p in body["problems"])
    assert "Event trends" in body["summary"] and "analytics_" not in body["summary"]
    panels = {b["panel"]: b["since"] for b in body["behind"]}
    assert "Event trends" in panels and panels["Event trends"] is not None
    assert fine["ok"] is True and fine["summary"] is None and fine["behind"] == []
