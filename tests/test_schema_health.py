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
        # Staleness is how long the oldest uncounted row has waited (issue 29): these
        # rows waited since they happened, as if written then and never refreshed.
        await conn.execute(
            "UPDATE analytics_refresh_invalidations SET logged_at = day - interval '1 day'"
        )
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
    between = await asyncio.to_thread(
        _cli, "status", "--check", "--database-url", empty_database_url
    )
    # Pre-deploy only: every read of an aggregate fails, so the probe fails (issue 29).
    assert between.returncode == 1, between.stdout + between.stderr
    assert "pending  post" in between.stdout
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
    sources = "\n".join(m.sql(t) for m in load_migrations() for t in SchemaTier)
    origins = set(re.findall(r"TIMESTAMPTZ '2000-[^']*'", sources))
    assert origins == {facts.BUCKET_ORIGIN_SQL}
    assert facts.BUCKET_ORIGIN.isoformat() == "2000-01-03T00:00:00+00:00"
    ts_sql = "\n".join(m.sql(SchemaTier.TIMESCALE) for m in load_migrations())
    blocks = re.findall(
        r"^CREATE MATERIALIZED VIEW (\w+)\s+WITH \(timescaledb\.continuous", ts_sql, re.M
    )
    # 0004 recreates six of 0002's aggregates under the same names: first mention, in
    # order; 0020's rollup of a rollup after them
    assert tuple(dict.fromkeys(blocks)) == facts.AGGREGATES + facts.DERIVED_ROLLUPS
    tables = re.findall(
        r"^CREATE TABLE (analytics_(?:api_\w+|task_durations_daily)) ", ts_sql, re.M
    )
    assert set(tables) == set(facts.DISTRIBUTIONS) and len(tables) == len(facts.DISTRIBUTIONS)
    # Every aggregate's range query is recoverable for the timescale tier's health check.
    assert [d.name for d in _from_migrations()] == list(facts.AGGREGATES)
    assert facts.quote_ident("analytics_events") == '"analytics_events"'
    for bad in ('a"b', "1abc", "x" * 64, "a b", ""):
        with pytest.raises(ConfigurationError):
            facts.quote_ident(bad)


async def test_prometheus_export_of_schema_health(database_url: str) -> None:
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from lib_analytics_core.metrics import register_schema_health_metrics

    def scrape(registry: CollectorRegistry) -> dict[str, float]:
        text = generate_latest(registry).decode()
        return {
            s.name + "".join(f"[{v}]" for v in s.labels.values()): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    conn = await asyncpg.connect(database_url)
    try:
        now: dt.datetime = await conn.fetchval("SELECT now()")
        await ref.insert(conn, ref.generate(now, days=5, n=200, seed=9))
        await conn.execute(  # waited since they happened (staleness: the rows' wait)
            "UPDATE analytics_refresh_invalidations SET logged_at = day - interval '1 day'"
        )
        registry = CollectorRegistry()
        register_schema_health_metrics(database_url, registry, min_interval=0)
        before = await asyncio.to_thread(scrape, registry)
        assert before["analytics_schema_health_up"] == 1
        assert before["analytics_aggregate_staleness_seconds[analytics_task_stats_daily]"] > 86400
        assert before["analytics_schema_migrations_changed"] == 0
        await maintain(conn)
        after = await asyncio.to_thread(scrape, registry)
        assert after["analytics_aggregate_staleness_seconds[analytics_task_stats_daily]"] == 0
        assert (
            "analytics_aggregate_newest_bucket_timestamp_seconds[analytics_task_stats_daily]"
            in after
        )
    finally:
        await conn.close()
    down = CollectorRegistry()
    register_schema_health_metrics("postgresql://postgres@127.0.0.1:1/nowhere", down)
    assert (await asyncio.to_thread(scrape, down))["analytics_schema_health_up"] == 0


async def test_health_as_dict_is_json_ready(database_url: str) -> None:
    import json

    health = await schema_health(database_url)
    payload = json.loads(json.dumps(health.as_dict()))
    assert payload["ok"] is True and payload["problems"] == []
    assert payload["tier"] == "partitioned"
    assert {a["name"] for a in payload["aggregates"]} >= set(ref.AGGREGATES)


def test_a_failing_job_with_current_data_warns_and_a_never_run_one_is_fine() -> None:
    """PGlite has no scheduler, so job failures cannot be produced there; the rule that
    turns TimescaleDB's job statistics into a probe result is checked directly."""
    from lib_analytics_core import JobHealth, SchemaHealth
    from lib_analytics_core.schema.health import AggregateHealth

    def job(job_id: int, **kw: object) -> JobHealth:
        base: dict[str, object] = {
            "job_id": job_id,
            "kind": "refresh",
            "target": "analytics_task_stats_daily",
            "schedule_interval": dt.timedelta(hours=1),
            "scheduled": True,
            "last_run_started_at": None,
            "last_successful_finish": None,
            "last_run_status": None,
            "total_runs": 0,
            "total_failures": 0,
            "consecutive_failures": 0,
            "next_start": None,
            "last_error": None,
        }
        base.update(kw)
        return JobHealth(**base)  # type: ignore[arg-type]

    now = dt.datetime.now(dt.UTC)
    never = job(1000)
    broken = job(
        1001,
        total_runs=40,
        total_failures=40,
        consecutive_failures=40,
        last_run_status="Failed",
        last_error='cannot drop portal "" while it is being set up (SQLSTATE 24000)',
    )
    health = SchemaHealth(SchemaTier.TIMESCALE, now, (never,), (), (), (), None)
    assert never.never_run and not never.failing and health.ok()
    # Failing runs while the aggregate is current: a warning naming the server's error
    # (issue 18: the native server fails every job after doing its work), not a problem.
    health = SchemaHealth(SchemaTier.TIMESCALE, now, (never, broken), (), (), (), None)
    assert health.ok()
    (warning,) = health.warnings()
    assert "job 1001 (refresh analytics_task_stats_daily) reports failures (40 in a row" in warning
    assert "SQLSTATE 24000" in warning and "current" in warning
    # The same job with its aggregate stale: the staleness is the problem, naming the job.
    stale = AggregateHealth(
        "analytics_task_stats_daily",
        now,
        now,
        now - dt.timedelta(hours=5),
        dt.timedelta(hours=5),
    )
    health = SchemaHealth(SchemaTier.TIMESCALE, now, (never, broken), (stale,), (), (), None)
    (problem,) = health.problems()
    assert "analytics_task_stats_daily is stale" in problem
    assert "its job 1001 is failing" in problem and "SQLSTATE 24000" in problem
    assert not health.warnings()


def test_auto_tier_explains_each_server_kind() -> None:
    """``auto`` follows the server, and says why; an explicit choice wins or is refused."""
    from lib_analytics_core import ServerInfo, ServerKind
    from lib_analytics_core.schema.server import choose_tier

    def server(kind: ServerKind, **kw: object) -> ServerInfo:
        base: dict[str, object] = {
            "kind": kind,
            "version": "PostgreSQL",
            "server_version_num": 150000,
            "timescaledb_version": None,
            "timescaledb_license": None,
            "timescaledb_available": False,
            "supports_copy": True,
        }
        base.update(kw)
        return ServerInfo(**base)  # type: ignore[arg-type]

    community = server(
        ServerKind.TIMESCALEDB,
        timescaledb_version="2.28.3",
        timescaledb_license="timescale",
        timescaledb_available=True,
    )
    apache = server(
        ServerKind.TIMESCALEDB_APACHE, timescaledb_license="apache", timescaledb_available=True
    )
    not_loaded = server(ServerKind.POSTGRESQL, timescaledb_available=True)
    plain = server(ServerKind.POSTGRESQL)

    assert choose_tier(community, "auto").tier is SchemaTier.TIMESCALE
    assert "2.28.3" in choose_tier(community, "auto").reason
    partitioned = choose_tier(community, "partitioned")
    assert partitioned.tier is SchemaTier.PARTITIONED
    assert "available but not used" in partitioned.reason
    assert "Apache-only licence" in choose_tier(apache, "auto").reason
    assert choose_tier(apache, "auto").tier is SchemaTier.PARTITIONED
    assert "not loaded" in choose_tier(not_loaded, "auto").reason
    assert "not available" in choose_tier(plain, "auto").reason
    for srv in (apache, not_loaded, plain):
        with pytest.raises(MigrationError, match="timescale tier was requested"):
            choose_tier(srv, "timescale")


async def test_the_read_only_role_can_check_health(database_url: str) -> None:
    """The API connects as analytics_reader; its health endpoint must work there."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("SET ROLE analytics_reader")
        health = await schema_health(conn)
        assert health.tier is SchemaTier.PARTITIONED
        assert {a.name for a in health.aggregates} >= set(ref.AGGREGATES)
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DELETE FROM analytics_schema_migrations")
    finally:
        await conn.close()
