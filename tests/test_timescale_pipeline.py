"""The same events give the same answers on TimescaleDB and on plain PostgreSQL.

One known data set goes through the real client and worker into both tiers: the
PGlite + TimescaleDB server (hypertable + continuous aggregates; the worker recognises
the WASM build and uses its array-INSERT path, never COPY) and the plain PostgreSQL test
database (daily partitions + library-maintained aggregate tables, binary COPY). Every
typed query must then return identical rows on both.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
import pytest

import lib_analytics_core as lac
from lib_analytics_core.schema import facts
from tests import _read_seed

pytestmark = pytest.mark.timescale

DAY = dt.timedelta(days=1)


async def answers(db: Any, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    return {
        "active_users": await lac.active_users(db, start=start, end=end),
        "task_stats": await lac.task_stats(db, start=start, end=end),
        "api_latency_day_service": await lac.api_latency(
            db, start=start, end=end, granularity="day", group_by="service"
        ),
        "api_latency_hour": await lac.api_latency(
            db, start=start, end=start + 7 * DAY, granularity="hour"
        ),
        "api_latency_endpoint": await lac.api_latency(
            db, start=start, end=end, granularity="total", group_by="endpoint"
        ),
        # merged at read time (not one stored row per answer row)
        "api_latency_total": await lac.api_latency(
            db, start=start, end=end, granularity="total", group_by="total"
        ),
        "api_latency_hour_endpoint_filter": await lac.api_latency(
            db, start=start, end=end, granularity="hour", group_by="total", endpoint="/v1/tasks"
        ),
        "integration_health": await lac.integration_health(db, start=start, end=end),
        "auth_metrics": await lac.auth_metrics(db, start=start, end=end),
        "cocoon_activity": await lac.cocoon_activity(db, start=start, end=end),
        "errors": await lac.errors(db, start=start, end=end),
        "top_errors": await lac.top_errors(db, start=start, end=end),
        "services": await lac.list_services(db, since=start),
    }


async def test_same_events_same_answers_on_timescaledb_and_postgresql(
    timescale_url: str, database_url: str
) -> None:
    d0 = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0) - 20 * DAY
    seeded = _read_seed.build(d0)
    start, end = d0 - DAY, d0 + 22 * DAY

    ts = await asyncpg.connect(timescale_url, statement_cache_size=0)
    try:
        assert await lac.detect_server_kind(ts) is lac.ServerKind.TIMESCALEDB
        await lac.migrate(ts)
    finally:
        await ts.close()
    # The worker opens its own one-connection pool to the server (PGlite serves one
    # connection at a time) and must pick the array-INSERT path by itself.
    written_ts = await _read_seed.write(timescale_url, seeded)
    written_pg = await _read_seed.write(database_url, seeded)
    assert written_ts == written_pg == len(seeded.events)

    ts = await asyncpg.connect(timescale_url, statement_cache_size=0)
    pg = await asyncpg.connect(database_url)
    try:
        assert await ts.fetchval("SELECT count(*) FROM analytics_events") == len(seeded.events)
        hypertables = await ts.fetchval(
            "SELECT count(*) FROM timescaledb_information.hypertables "
            "WHERE hypertable_name = 'analytics_events'"
        )
        assert hypertables == 1
        caggs = await ts.fetchval(
            "SELECT count(*) FROM timescaledb_information.continuous_aggregates"
        )
        # 10 live (0004 recreated 6, 0008 added 2), 6 archived *_v0002, 0020's weekly
        assert caggs == 16 + len(facts.DERIVED_ROLLUPS)
        await lac.refresh_aggregates(ts, start=start, end=end)
        await lac.refresh_aggregates(pg, start=start, end=end)
        on_timescale = await answers(ts, start, end)
        on_postgres = await answers(pg, start, end)

        # Where jobs run, TimescaleDB keeps the precomputed DAU/WAU/MAU current with an
        # hourly job following the cagg policies; run it by hand and compare.
        rollup = "SELECT day, dau, wau, mau FROM analytics_active_users_daily ORDER BY day"
        recent = [r for r in await ts.fetch(rollup) if r["day"] >= end - 25 * DAY]
        job_id = await ts.fetchval(
            "SELECT job_id FROM timescaledb_information.jobs "
            "WHERE proc_name = 'analytics_active_users_job'"
        )
        assert job_id is not None
        await ts.execute("DELETE FROM analytics_active_users_daily")
        await ts.execute(f"CALL run_job({int(job_id)})")
        after_job = {r["day"]: tuple(r) for r in await ts.fetch(rollup)}
        assert after_job, "the job recomputed the recent days"
        assert all(after_job[r["day"]] == tuple(r) for r in recent if r["day"] in after_job)
        assert len(after_job) >= 4  # the last 3 days and tomorrow's boundary
    finally:
        await ts.close()
        await pg.close()

    for name, rows in on_postgres.items():
        assert rows, f"{name}: the seed should produce data"
        assert on_timescale[name] == rows, name
