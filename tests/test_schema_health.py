"""Job health, aggregate staleness, ``status --check`` and the deliberate tier, on plain
PostgreSQL (the timescale tier's versions are in tests/test_timescale_maintenance.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from lib_analytics_core import (
    ConfigurationError,
    MigrationError,
    SchemaTier,
    maintain,
    migrate,
    migration_status,
    schema_health,
)
from lib_analytics_core.schema import facts
from lib_analytics_core.schema.definitions import _from_migrations
from lib_analytics_core.schema.migrate import load_migrations
from tests import _aggregate_reference as ref

CLI = str(Path(sys.executable).with_name("analytics-migrate"))


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if "DATABASE_URL" not in k}
    environ.pop("ANALYTICS_SCHEMA_TIER", None)
    environ.update(env)
    return subprocess.run(
        [CLI, *args], capture_output=True, text=True, env=environ, timeout=120, check=False
    )


async def test_stale_aggregates_fail_the_check_until_maintain_runs(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        now: dt.datetime = await conn.fetchval("SELECT now()")
        events = ref.generate(now, days=10, n=600, seed=5)
        await ref.insert(conn, events)
        oldest_task_day = facts.floor_day(min(e[0] for e in events if e[2].startswith("task_")))

        health = await schema_health(conn)
        assert health.tier is SchemaTier.PARTITIONED
        assert health.jobs == ()
        assert health.last_maintenance is None
        stale = {a.name: a for a in health.aggregates}
        assert set(stale) == {*ref.AGGREGATES, facts.ACTIVE_USERS_TABLE}
        assert stale["analytics_task_stats_daily"].newest_bucket is None
        assert stale["analytics_task_stats_daily"].missing_since == oldest_task_day
        assert stale["analytics_task_stats_daily"].staleness >= dt.timedelta(days=9)
        assert not health.ok()
        assert any("analytics_errors_hourly is stale" in p for p in health.problems())
        # A threshold wider than the gap accepts it.
        assert health.ok(max_staleness=dt.timedelta(days=30))

        check = await asyncio.to_thread(_cli, "status", "--check", "--database-url", database_url)
        assert check.returncode == 1, check.stdout + check.stderr
        assert "STALE" in check.stdout and "PROBLEM: aggregate" in check.stdout
        plain = await asyncio.to_thread(_cli, "status", "--database-url", database_url)
        assert plain.returncode == 0  # without --check, status only reports
        lenient = await asyncio.to_thread(
            _cli, "status", "--check", "--max-staleness", "30d", "--database-url", database_url
        )
        assert lenient.returncode == 0, lenient.stdout

        await maintain(conn)
        ref.compare(await ref.fetch_aggregates(conn), ref.reference(events))
        fresh = await schema_health(conn)
        assert fresh.ok(), fresh.problems()
        assert all(a.staleness == dt.timedelta(0) for a in fresh.aggregates)
        assert fresh.last_maintenance is not None
        check = await asyncio.to_thread(_cli, "status", "--check", "--database-url", database_url)
        assert check.returncode == 0, check.stdout + check.stderr

        # One new event in an aggregate's next bucket makes it stale again.
        await conn.execute(
            'INSERT INTO analytics_events ("timestamp", event_id, event_type, service, data)'
            " VALUES (now() + interval '1 hour', gen_random_uuid(), 'api_request', 'svc',"
            ' \'{"endpoint": "/x", "method": "GET", "status_code": 200,'
            ' "duration_ms": 5}\')'
        )
        later = {a.name: a for a in (await schema_health(conn)).aggregates}
        assert later["analytics_api_latency_hourly"].missing_since is not None
        assert later["analytics_task_stats_daily"].missing_since is None  # not its events
    finally:
        await conn.close()


async def test_tier_is_deliberate_recorded_and_sticky(empty_database_url: str) -> None:
    conn = await asyncpg.connect(empty_database_url)
    try:
        with pytest.raises(MigrationError, match="timescale tier was requested but TimescaleDB"):
            await migrate(conn, tier="timescale")
        with pytest.raises(ConfigurationError, match="tier must be"):
            await migrate(conn, tier="columnar")
        status = await migration_status(conn)
        assert status.tier_reason.startswith("auto: TimescaleDB")
        assert not status.applied
    finally:
        await conn.close()

    first = await asyncio.to_thread(
        _cli, "pre", "--database-url", empty_database_url, ANALYTICS_SCHEMA_TIER="partitioned"
    )
    assert first.returncode == 0, first.stderr
    assert "schema tier: partitioned (requested" in first.stdout
    refused = await asyncio.to_thread(
        _cli, "post", "--tier", "timescale", "--database-url", empty_database_url
    )
    assert refused.returncode == 1
    assert "uses the partitioned tier" in refused.stderr
    assert "MigrationError" in refused.stderr
    rest = await asyncio.to_thread(_cli, "post", "--database-url", empty_database_url)
    assert rest.returncode == 0, rest.stderr
    assert "schema tier: partitioned (recorded in analytics_schema_migrations)" in rest.stdout
    bad = await asyncio.to_thread(
        _cli, "status", "--database-url", empty_database_url, ANALYTICS_SCHEMA_TIER="nope"
    )
    assert bad.returncode == 1 and "ANALYTICS_SCHEMA_TIER must be" in bad.stderr


def test_schema_facts_agree_with_the_shipped_sql() -> None:
    """The migrations are checksummed and never edited, so the facts module must follow
    them: the bucket origin literal and the aggregate names, in refresh order."""
    sources = "\n".join(m.source for m in load_migrations())
    origins = set(re.findall(r"TIMESTAMPTZ '2000-[^']*'", sources))
    assert origins == {facts.BUCKET_ORIGIN_SQL}
    assert facts.BUCKET_ORIGIN.isoformat() == "2000-01-03T00:00:00+00:00"
    blocks = re.findall(r"^--\s*@aggregate\s+(\w+)", sources, flags=re.MULTILINE)
    assert tuple(blocks) == facts.AGGREGATES
    # Every aggregate's range query is recoverable for the timescale tier's health check.
    assert [d.name for d in _from_migrations()] == list(facts.AGGREGATES)
    assert facts.quote_ident("analytics_events") == '"analytics_events"'
    for bad in ('a"b', "1abc", "x" * 64, "a b", ""):
        with pytest.raises(ConfigurationError):
            facts.quote_ident(bad)
