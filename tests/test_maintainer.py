"""Issue 29 item 1: numbers appear by themselves, with no cron, on every tier.

The processes users already run elect one maintainer per database through the lease row
of migration 0014 (``schema/maintainer.py``). Checked against real servers: a tracked
event reaches ``/v1/overview``, ``/v1/tasks`` and the event trends with nothing
scheduled (plain PostgreSQL through the API; the timescale tier through the read layer,
PGlite or ``TEST_TIMESCALE_URL``); two maintainers elect one and fail over when it
dies; a reader login and a running ``analytics-migrate maintain`` are respected. The
schedule is shortened (``MaintainerSchedule``) and every wait is for a condition; no
speed is asserted.

Before this change there was no maintainer: the first test's numbers stayed at zero
(it gave up waiting), the rest could not import it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from lib_analytics_core import AnalyticsClient, AnalyticsWorker, migrate
from lib_analytics_core.api import create_app
from lib_analytics_core.events.catalog import ApiRequest, TaskCompleted
from lib_analytics_core.read import events as read_events
from lib_analytics_core.read import overview as read_overview
from lib_analytics_core.read import tasks as read_tasks
from lib_analytics_core.schema.facts import MAINTENANCE_LOCK_KEY
from lib_analytics_core.schema.health import schema_health
from lib_analytics_core.schema.maintainer import (
    MAINTAINER_ENV,
    Maintainer,
    MaintainerSchedule,
    Role,
    maintainer_enabled,
)
from tests._faults import wait_until

TOKEN = "test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
FAST = MaintainerSchedule(refresh_every=0.05, maintain_every=3600, lease_ttl=2.0)


@pytest.fixture(autouse=True)
def _maintainer_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """The suite turns the maintainer off (conftest); here it is the subject."""
    monkeypatch.delenv(MAINTAINER_ENV, raising=False)


def _events(user: uuid.UUID) -> list[Any]:
    return [
        TaskCompleted(task_id=uuid.uuid4(), user_id=user, duration_ms=1234),
        ApiRequest(service="web", method="GET", endpoint="/v1/x", status_code=200, duration_ms=12),
    ]


async def _no_reset(_conn: Any) -> None:
    """Nothing to undo between uses of the one pooled connection."""


def _today() -> tuple[dt.date, dt.date]:
    today = dt.datetime.now(dt.UTC).date()
    return today, today + dt.timedelta(days=1)


async def _api_shows(http: httpx.AsyncClient) -> bool:
    start, end = _today()
    q = {"start": start.isoformat(), "end": end.isoformat()}
    ov = (await http.get("/v1/overview", params=q, headers=AUTH)).json()
    tasks = (await http.get("/v1/tasks", params=q, headers=AUTH)).json()
    trends = (
        await http.get("/v1/events/trends", params={**q, "granularity": "hour"}, headers=AUTH)
    ).json()
    completed = sum(r["completed"] for r in tasks.get("rows", []))
    types = {r["event_type"] for r in trends.get("rows", [])}
    return bool(
        ov.get("requests", 0) >= 1 and completed >= 1 and {"task_completed", "api_request"} <= types
    )


async def test_tracked_event_reaches_overview_tasks_and_trends_with_nothing_scheduled(
    database_url: str,
) -> None:
    """Plain PostgreSQL: the worker hosts the maintainer; nobody runs maintain()."""
    client, cfg = AnalyticsClient.new(flush_interval_secs=0.05, service_name="web")
    worker = AnalyticsWorker(cfg, database_url, maintainer_schedule=FAST)
    run = asyncio.create_task(worker.run())
    app = create_app(database_url, TOKEN, cache_ttl_s=0)
    try:
        for event in _events(uuid.uuid4()):
            client.track(event)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
                await wait_until(lambda: _api_shows(http), "the event in overview/tasks/trends")
                conn = await asyncpg.connect(database_url)
                try:
                    lease = "SELECT * FROM analytics_maintainer_lease"

                    async def recorded() -> bool:
                        row = await conn.fetchrow(lease)
                        return row is not None and row["last_refresh_at"] is not None

                    await wait_until(recorded, "the maintainer to record its refresh")
                    row = await conn.fetchrow(lease)
                finally:
                    await conn.close()
    finally:
        await worker.shutdown(timeout=10)
        await run
    assert row is not None and row["holder"].startswith("worker@")
    assert row["last_error"] is None, dict(row)


@pytest.mark.timescale
async def test_tracked_event_reaches_the_answers_on_the_timescale_tier(timescale_url: str) -> None:
    """TimescaleDB with no working scheduler (PGlite has none; a native server's jobs
    fail with "cannot drop portal"): the maintainer does the policies' work. One pooled
    connection, shared by the worker's writes and its maintainer (PGlite serves one)."""
    conn = await asyncpg.connect(timescale_url)
    try:
        await migrate(conn, phase="all", tier="timescale")
    finally:
        await conn.close()
    # No reset on release: asyncpg's RESET ALL would leave PGlite's search path, which
    # serve.mjs sets per connection, and with it the schema.
    pool = await asyncpg.create_pool(timescale_url, min_size=1, max_size=1, reset=_no_reset)
    assert pool is not None
    client, cfg = AnalyticsClient.new(
        flush_interval_secs=0.05, service_name="web", write_method="insert"
    )
    worker = AnalyticsWorker(cfg, pool, maintainer_schedule=FAST)
    run = asyncio.create_task(worker.run())
    start, end = _today()

    async def shows() -> bool:
        ov = await read_overview.overview(pool, start=start, end=end)
        stats = await read_tasks.task_stats(pool, start=start, end=end)
        trends = await read_events.event_trends(pool, start=start, end=end, granularity="hour")
        types = {r.event_type for r in trends}
        return (
            ov.requests >= 1
            and sum(r.completed for r in stats) >= 1
            and {"task_completed", "api_request"} <= types
        )

    try:
        for event in _events(uuid.uuid4()):
            client.track(event)
        await wait_until(shows, "the event in the timescale tier's answers", limit=120)
    finally:
        await worker.shutdown(timeout=10)
        await run
        await pool.close()


async def test_two_maintainers_elect_one_and_the_lease_passes_on_release(
    database_url: str,
) -> None:
    a = Maintainer(database_url, host="a", schedule=FAST)
    b = Maintainer(database_url, host="b", schedule=FAST)
    try:
        assert await a.tick() is Role.HOLDER
        assert await b.tick() is Role.FOLLOWER
        assert await a.tick() is Role.HOLDER  # renewal, not a new election
        assert await b.tick() is Role.FOLLOWER
        assert (a.passes, b.passes, b.refreshes) == (1, 0, 0)
        lease = (await schema_health(database_url)).maintainer  # what status/health show
        assert lease is not None and lease["holder"] == a.holder_id and lease["live"]
        assert lease["last_maintain_at"] is not None and lease["last_error"] is None
        await a.close()  # a clean exit gives the lease back: no wait for its expiry
        assert await b.tick() is Role.HOLDER
        assert b.passes == 1  # a new term starts with a whole maintain() pass
    finally:
        await a.close()
        await b.close()


_HOLD = """
import asyncio, sys
from lib_analytics_core.schema.maintainer import Maintainer, MaintainerSchedule, Role

async def main() -> None:
    m = Maintainer(sys.argv[1], host="doomed",
                   schedule=MaintainerSchedule(refresh_every=0.05, lease_ttl=1.0))
    while await m.tick() is not Role.HOLDER:
        await asyncio.sleep(0.05)
    print("HOLDER", flush=True)
    await m.run()

asyncio.run(main())
"""


async def test_failover_when_the_holder_dies(database_url: str) -> None:
    """The holder is a process killed with SIGKILL (no release): its lease runs out
    ``lease_ttl`` after its last renewal and the survivor takes over."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _HOLD,
        database_url,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, MAINTAINER_ENV: "on"},
    )
    survivor = Maintainer(database_url, host="survivor", schedule=FAST)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert line.strip() == b"HOLDER"
        assert await survivor.tick() is Role.FOLLOWER
        proc.send_signal(signal.SIGKILL)
        await proc.wait()

        async def took_over() -> bool:
            return await survivor.tick() is Role.HOLDER

        await wait_until(took_over, "the survivor to take the dead holder's lease")
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await survivor.close()


@pytest.fixture
async def reader_dsn(database_url: str) -> AsyncIterator[str]:
    from tests.test_api import with_user

    name = f"lac_rd_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(database_url)
    await conn.execute(f"CREATE ROLE {name} LOGIN PASSWORD 'pw' IN ROLE analytics_reader")
    try:
        yield with_user(database_url, name)
    finally:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", name
        )
        await conn.execute(f"DROP OWNED BY {name}")
        await conn.execute(f"DROP ROLE {name}")
        await conn.close()


async def test_a_reader_login_never_competes(database_url: str, reader_dsn: str) -> None:
    """The API's usual login (analytics_reader) cannot maintain, so it never takes the
    lease from a process that can."""
    m = Maintainer(reader_dsn, host="api", schedule=FAST)
    try:
        assert await m.tick() is Role.NOT_OWNER
    finally:
        await m.close()
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM analytics_maintainer_lease") == 0
    finally:
        await conn.close()


async def test_the_refresh_stands_aside_while_maintain_runs(database_url: str) -> None:
    """A concurrent `analytics-migrate maintain` holds the maintenance lock: the tick
    skips its refresh instead of waiting, and the next tick after it does the work."""
    m = Maintainer(database_url, host="w", schedule=FAST)
    other = await asyncpg.connect(database_url)
    try:
        assert await m.tick() is Role.HOLDER  # the first, whole pass
        await other.execute(
            "INSERT INTO analytics_events (event_id, event_type, service, data)"
            " VALUES (gen_random_uuid(), 'custom_x', 's', '{}')"
        )
        await other.execute("SELECT pg_advisory_lock($1)", MAINTENANCE_LOCK_KEY)
        assert await asyncio.wait_for(m.tick(), 30) is Role.HOLDER
        count = (
            "SELECT coalesce(sum(events), 0) FROM analytics_event_trends_daily"
            " WHERE event_type = 'custom_x'"
        )
        assert await other.fetchval(count) == 0
        await other.execute("SELECT pg_advisory_unlock($1)", MAINTENANCE_LOCK_KEY)
        assert await m.tick() is Role.HOLDER
        assert await other.fetchval(count) == 1
    finally:
        await other.close()
        await m.close()


def test_the_environment_switch_wins() -> None:
    assert maintainer_enabled(True, {}) is True
    assert maintainer_enabled(False, {}) is False
    assert maintainer_enabled(True, {MAINTAINER_ENV: "off"}) is False
    assert maintainer_enabled(False, {MAINTAINER_ENV: "on"}) is False
    with pytest.raises(Exception, match=MAINTAINER_ENV):
        maintainer_enabled(True, {MAINTAINER_ENV: "sometimes"})


async def test_the_worker_hosts_none_when_turned_off(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for env, flag in (("off", True), ("", False)):
        monkeypatch.setenv(MAINTAINER_ENV, env)
        client, cfg = AnalyticsClient.new(flush_interval_secs=0.05, maintainer=flag)
        worker = AnalyticsWorker(cfg, database_url, maintainer_schedule=FAST)
        run = asyncio.create_task(worker.run())
        client.track(_events(uuid.uuid4())[0])
        assert await worker.flush(timeout=10)
        await worker.shutdown(timeout=10)
        await run
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM analytics_maintainer_lease") == 0
    finally:
        await conn.close()


async def test_analytics_api_hosts_a_maintainer_where_its_login_owns_the_schema(
    database_url: str,
) -> None:
    """The console script, as users run it, with an owner login: its maintainer is
    elected (with the usual reader login it never is: the test above)."""
    env = {k: v for k, v in os.environ.items() if k not in (MAINTAINER_ENV, "DATABASE_URL")}
    env["ANALYTICS_API_TOKEN"] = TOKEN
    from tests._net import free_port

    api = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "lib_analytics_core.cli.api",
        *("--database-url", database_url, "--port", str(free_port())),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    conn = await asyncpg.connect(database_url)
    try:

        async def elected() -> bool:
            holder = await conn.fetchval("SELECT holder FROM analytics_maintainer_lease")
            return holder is not None and str(holder).startswith("api@")

        await wait_until(elected, "analytics-api's maintainer to take the lease")
    finally:
        await conn.close()
        if api.returncode is None:
            api.terminate()
            await api.wait()


async def test_the_frequent_refresh_recomputes_only_the_days_that_received_rows(
    database_url: str,
) -> None:
    """Before: it recomputed the whole history every tick (9.3 s at 100k events)."""
    from lib_analytics_core.schema.facts import floor_day
    from lib_analytics_core.schema.maintenance import maintain
    from lib_analytics_core.schema.maintenance_recent import refresh_recent

    conn = await asyncpg.connect(database_url)
    try:
        row = (
            'INSERT INTO analytics_events ("timestamp", event_id, event_type, service, data)'
            " VALUES (now() - $1::interval, gen_random_uuid(), 'x', 's', '{}')"
        )
        await conn.execute(row, dt.timedelta(days=5))
        await maintain(conn)
        await conn.execute(row, dt.timedelta(0))
        now = await conn.fetchval("SELECT now()")
        report = await refresh_recent(conn)
    finally:
        await conn.close()
    assert report is not None
    day = floor_day(now)
    assert report.refreshed_ranges == ((day, day + dt.timedelta(days=1)),)
