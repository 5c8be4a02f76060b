"""The timescale tier on a real TimescaleDB (PGlite by default, or $TEST_TIMESCALE_URL).

The server serves one connection at a time and shares one database across the whole
session, so these tests run in order on one schema: migrate, load, refresh, compare,
then run the policies, compress and drop old chunks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import asyncpg
import pytest

from lib_analytics_core import (
    SchemaTier,
    ServerKind,
    detect_server_kind,
    maintain,
    migrate,
    migration_status,
    refresh_aggregates,
)
from lib_analytics_core.read import histogram as h
from lib_analytics_core.schema import facts
from lib_analytics_core.schema.migrate import load_migrations
from tests import _aggregate_reference as ref

pytestmark = pytest.mark.timescale


@pytest.fixture
async def ts(timescale_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(timescale_url, statement_cache_size=0)
    # The PGlite server's default search_path is pg_catalog (reset on every connection).
    await conn.execute("SET search_path = public")
    try:
        yield conn
    finally:
        await conn.close()


async def test_timescale_tier_end_to_end(ts: asyncpg.Connection) -> None:
    assert await detect_server_kind(ts) is ServerKind.TIMESCALEDB
    dry = await migrate(ts, dry_run=True)
    assert "create_hypertable" in dry.sql[0][1]
    assert "timescaledb.continuous" in dry.sql[1][1]
    assert await ts.fetchval("SELECT to_regclass('analytics_events')") is None

    report = await migrate(ts)
    assert report.tier is SchemaTier.TIMESCALE
    assert report.applied == tuple(m.name for m in load_migrations())
    status = await migration_status(ts)
    assert [s.state for s in status.migrations] == ["applied"] * len(report.applied)
    assert status.server.timescaledb_license == "timescale"
    # 0005 dropped create_hypertable's duplicate "timestamp" index (the key covers it).
    indexes = await ts.fetch(
        "SELECT indexname FROM pg_indexes WHERE tablename = 'analytics_events'"
    )
    assert "analytics_events_timestamp_idx" not in {r["indexname"] for r in indexes}
    assert (await migrate(ts)).applied == ()
    caggs = await ts.fetchval("SELECT count(*) FROM timescaledb_information.continuous_aggregates")
    # 10 live (6 recreated by 0004, 2 added by 0008), the 6 archived *_v0002, 0020's weekly
    assert caggs == 16 + len(facts.DERIVED_ROLLUPS)

    now: dt.datetime = await ts.fetchval("SELECT now()")
    events = ref.generate(now, days=28, n=2000, seed=11)
    old = ref.generate(now - dt.timedelta(days=95), days=2, n=100, seed=12)
    await ref.insert(ts, events + old, chunk_size=100)
    await refresh_aggregates(ts, start=now - dt.timedelta(days=100))
    got = await ref.fetch_aggregates(ts)
    ref.compare(got, ref.reference(events + old))

    # Percentiles over any window from the daily rollup, within the documented bound.
    api = [e for e in events if e[2] == "api_request"]
    rows = await ts.fetch("SELECT hist_keys, hist_counts FROM analytics_api_day_total")
    values = [e[5]["duration_ms"] for e in api]
    keys, counts = h.merge((r["hist_keys"], r["hist_counts"]) for r in rows)
    for q in (0.5, 0.95, 0.99):
        est = h.percentile(keys, counts, q)
        true = ref.nearest_rank(
            values + [e[5]["duration_ms"] for e in old if e[2] == "api_request"], q
        )
        assert est is not None
        assert abs(est - true) <= h.RELATIVE_ERROR_BOUND * true * (1 + 1e-9)

    # Policies exist and run (no background workers here: run_job by hand).
    jobs = await ts.fetch(
        "SELECT job_id, proc_name FROM timescaledb_information.jobs"
        " WHERE hypertable_name = 'analytics_events'"
        " OR proc_name = 'policy_refresh_continuous_aggregate'"
    )
    procs = sorted({j["proc_name"] for j in jobs})
    assert procs == [
        "policy_compression",
        "policy_refresh_continuous_aggregate",
        "policy_retention",
    ]
    for j in jobs:
        if j["proc_name"] != "policy_retention":
            await ts.execute(f"CALL run_job({int(j['job_id'])})")

    # An old chunk is compressed, and still readable.
    compressed = await ts.fetchval(
        "SELECT count(*) FROM timescaledb_information.chunks"
        " WHERE hypertable_name = 'analytics_events' AND is_compressed"
    )
    assert compressed > 0
    assert await ts.fetchval("SELECT count(*) FROM analytics_events") == len(events) + len(old)

    # Retention drops the 95-day-old chunks; aggregates keep their history.
    before = await ref.fetch_aggregates(ts)
    retention = next(j["job_id"] for j in jobs if j["proc_name"] == "policy_retention")
    await ts.execute(f"CALL run_job({int(retention)})")
    assert await ts.fetchval("SELECT count(*) FROM analytics_events") == len(events)
    await refresh_aggregates(ts, start=now - dt.timedelta(days=100))
    assert await ref.fetch_aggregates(ts) == before
    assert (await maintain(ts)).tier is SchemaTier.TIMESCALE
