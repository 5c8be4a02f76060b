"""The benchmarks' storage and refresh figures on both schema tiers (issue 29).

``bench_queries.sizes`` summed the raw table through ``pg_partition_tree``: on
TimescaleDB that is the hypertable's parent alone, 0 bytes, so ``benchmarks/run.py`` and
``bench_read_scale.py`` ended in ``ZeroDivisionError`` there (reproduced against a
native 2.28.3 database before the fix), and the continuous aggregates, which live in
materialized hypertables, were not counted. ``benchmarks/_tier.py`` is the one place
that knows where each tier keeps raw rows and aggregates; these tests run it on a real
database of each tier, with real rows, compressed chunks on TimescaleDB.
"""

from __future__ import annotations

import datetime as dt
import importlib
import sys
from pathlib import Path

import asyncpg
import pytest

import lib_analytics_core as lac
from lib_analytics_core.schema.facts import AGGREGATES, COMPRESS_AFTER
from lib_analytics_core.schema.maintenance import refresh_aggregates
from lib_analytics_core.schema.timescale import compress_chunks

_BENCH = str(Path(__file__).resolve().parent.parent / "benchmarks")
sys.path.insert(0, _BENCH)

#: benchmarks/_tier.py (the benchmarks folder is scripts, not a package).
_tier = importlib.import_module("_tier")

#: ``hours`` api_request events, one an hour back from now.
_ROWS = """
INSERT INTO analytics_events ("timestamp", event_id, event_type, service, user_id, data)
SELECT now() - g * INTERVAL '1 hour', gen_random_uuid(), 'api_request', 'svc',
       ('00000000-0000-4000-8000-' || lpad((g % 7)::text, 12, '0'))::uuid,
       jsonb_build_object('endpoint', '/v1/x', 'method', 'GET', 'status_code', 200,
                          'duration_ms', 10 + g % 90)
FROM generate_series(1, $1::int) AS g
"""


async def test_sizes_on_the_partitioned_tier(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(_ROWS, 20)
        await refresh_aggregates(conn, start=dt.datetime.now(dt.UTC) - dt.timedelta(days=2))
        text, figures = await _tier.sizes_of(conn)
    finally:
        await conn.close()
    assert figures["tier"] == "partitioned"
    assert figures["raw_bytes"] > 0
    assert figures["aggregate_bytes"] > 0
    assert figures["aggregates_pct_of_raw"] == round(
        100 * figures["aggregate_bytes"] / figures["raw_bytes"], 2
    )
    for name in AGGREGATES:
        assert f"| {name} " in text
    assert "analytics_schema_migrations" not in text
    assert "analytics_ordered_days" not in text


@pytest.mark.timescale
async def test_sizes_and_a_forced_day_on_timescaledb(timescale_url: str) -> None:
    conn = await asyncpg.connect(timescale_url, statement_cache_size=0)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")  # a fresh database
        await lac.migrate(conn)
        hours = 24 * 10
        await conn.execute(_ROWS, hours)
        now: dt.datetime = await conn.fetchval("SELECT now()")
        await refresh_aggregates(conn, start=now - dt.timedelta(days=11))
        compressed = await compress_chunks(conn, older_than=now - COMPRESS_AFTER)
        assert compressed  # chunks 8-10 days old: past the horizon
        text, figures = await _tier.sizes_of(conn)
        parent = await conn.fetchval("SELECT pg_total_relation_size('analytics_events')")

        # The benchmark's one-day refresh (forced: a clean range would be skipped)
        # runs on this tier and recomputes the day to the same, exact answer.
        day = now.replace(hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(days=1)
        before = await conn.fetchval(
            "SELECT sum(events) FROM analytics_event_trends_daily WHERE bucket = $1", day
        )
        await _tier.refresh_day(conn, day)
        after = await conn.fetchval(
            "SELECT sum(events) FROM analytics_event_trends_daily WHERE bucket = $1", day
        )
    finally:
        await conn.close()
    assert figures["tier"] == "timescale"
    assert parent < figures["raw_bytes"]  # the parent alone is what was divided by
    assert figures["raw_bytes"] > 0
    assert figures["compression"]["compressed_chunks"] >= 1
    assert figures["compression"]["compressed_before_bytes"] > 0
    for name in AGGREGATES:
        assert f"| {name} (continuous aggregate) " in text
    assert "_v0002" not in text
    assert before == after == 24
