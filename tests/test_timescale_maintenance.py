"""The timescale tier without a scheduler: health shows it, ``maintain`` does the jobs.

On the PGlite TimescaleDB server no background job ever runs (as on servers with
``timescaledb.max_background_workers = 0``, or whose jobs all fail). Issue 11's
acceptance: ``status --check`` reports the jobs as never run and the aggregates stale
and exits non-zero; ``maintain`` brings every aggregate to the raw data (checked against
a recomputation), compresses old chunks and applies retention; ``status --check`` then
exits 0. Also: a server with TimescaleDB does not force the timescale tier.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from lib_analytics_core import MigrationError, SchemaTier, migrate, schema_health
from lib_analytics_core.schema import facts
from lib_analytics_core.schema.timescale import chunk_states
from tests import _aggregate_reference as ref

pytestmark = pytest.mark.timescale

CLI = str(Path(sys.executable).with_name("analytics-migrate"))


def _cli(*args: str, dsn: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if "DATABASE_URL" not in k}
    env.pop("ANALYTICS_SCHEMA_TIER", None)
    return subprocess.run(
        [CLI, *args, "--database-url", dsn],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )


async def _connect(dsn: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(dsn, statement_cache_size=0, timeout=60, command_timeout=300)
    await conn.execute("SET search_path = public")
    return conn


async def test_without_a_scheduler_check_fails_then_maintain_does_the_jobs(
    timescale_url: str,
) -> None:
    conn = await _connect(timescale_url)
    try:
        assert (await migrate(conn)).tier is SchemaTier.TIMESCALE
        now: dt.datetime = await conn.fetchval("SELECT now()")
        events = ref.generate(now, days=20, n=1500, seed=21)
        old = ref.generate(now - dt.timedelta(days=95), days=2, n=80, seed=22)
        await ref.insert(conn, events + old, chunk_size=200)

        health = await schema_health(conn)
        kinds = sorted(j.kind for j in health.jobs)
        assert kinds == sorted(
            ["compression", "retention", "active_users", "distributions"]
            + ["refresh"] * (len(facts.AGGREGATES) + len(facts.DERIVED_ROLLUPS))
        )
        # PGlite runs no job; a native scheduler starts new jobs at once (and one server
        # reports each run failed after its work): only a job that ran can be failing.
        assert not any(j.failing for j in health.jobs if j.never_run)
        refreshed = {*facts.AGGREGATES, *facts.DERIVED_ROLLUPS}
        assert {j.target for j in health.jobs if j.kind == "refresh"} == refreshed
        no_scheduler = all(j.never_run for j in health.jobs)  # PGlite, or turned off
        if no_scheduler:
            never = {a.name for a in health.aggregates if a.newest_bucket is None}
            # caggs created WITH NO DATA and the distribution tables: never refreshed
            assert never == {*facts.AGGREGATES, *facts.DISTRIBUTIONS}
        # Stale either way: a policy refreshes only its last 3 days, the data spans 20.
        assert not health.ok()
    finally:
        conn.terminate()

    before = await asyncio.to_thread(_cli, "status", "--check", dsn=timescale_url)
    assert before.returncode == 1, before.stdout + before.stderr
    assert "STALE" in before.stdout
    assert ("never run" in before.stdout) is no_scheduler
    assert "PROBLEM: aggregate analytics_task_stats_daily is stale" in before.stdout

    maint = await asyncio.to_thread(_cli, "maintain", dsn=timescale_url)
    assert maint.returncode == 0, maint.stdout + maint.stderr
    assert "chunks compressed: 0" not in maint.stdout
    assert "chunks dropped: 0" not in maint.stdout

    conn = await _connect(timescale_url)
    try:
        # Every aggregate equals a recomputation from the raw rows, including the rows
        # that retention then dropped (aggregates are refreshed first and keep history).
        ref.compare(await ref.fetch_aggregates(conn), ref.reference(events + old))
        assert await conn.fetchval("SELECT count(*) FROM analytics_events") == len(events)
        # DAU/WAU/MAU rollup equals a direct count over the day x user aggregate.
        mismatches = await conn.fetchval(
            """
            SELECT count(*) FROM analytics_active_users_daily a
            WHERE a.dau <> (SELECT count(*) FROM analytics_daily_active_users d
                            WHERE d.day = a.day)
               OR a.wau <> (SELECT count(DISTINCT user_id) FROM analytics_daily_active_users d
                            WHERE d.day > a.day - interval '7 days' AND d.day <= a.day)
               OR a.mau <> (SELECT count(DISTINCT user_id) FROM analytics_daily_active_users d
                            WHERE d.day > a.day - interval '30 days' AND d.day <= a.day)
            """
        )
        assert mismatches == 0
        assert await conn.fetchval("SELECT count(*) FROM analytics_active_users_daily") > 20
        chunks = await chunk_states(conn)
        horizon = now - facts.COMPRESS_AFTER
        assert all(
            c.range_start >= now - facts.RAW_RETENTION - dt.timedelta(days=1) for c in chunks
        )
        old_chunks = [c for c in chunks if c.range_end <= horizon]
        assert old_chunks and all(c.fully_compressed for c in old_chunks)
        assert not any(c.compressed for c in chunks if c.range_end > horizon)
        assert (await schema_health(conn)).ok()
    finally:
        conn.terminate()

    after = await asyncio.to_thread(_cli, "status", "--check", dsn=timescale_url)
    assert after.returncode == 0, after.stdout + after.stderr

    again = await asyncio.to_thread(_cli, "maintain", dsn=timescale_url)  # idempotent
    assert again.returncode == 0, again.stderr
    assert "chunks compressed: 0" in again.stdout and "chunks dropped: 0" in again.stdout


async def test_partitioned_tier_on_a_timescaledb_server_when_asked(timescale_url: str) -> None:
    conn = await _connect(timescale_url)
    try:
        report = await migrate(conn, tier="partitioned")
        assert report.tier is SchemaTier.PARTITIONED
        assert "TimescaleDB is available but not used" in report.tier_reason
        assert (
            await conn.fetchval(
                "SELECT relkind::text FROM pg_class WHERE oid = 'analytics_events'::regclass"
            )
            == "p"
        )
        # PGlite has the extension in its one database; a native server's fresh database
        # does not, and the partitioned tier must not create it there.
        if await conn.fetchval("SELECT to_regclass('timescaledb_information.hypertables') IS NULL"):
            assert report.server.timescaledb_version is None
        else:
            assert (
                await conn.fetchval("SELECT count(*) FROM timescaledb_information.hypertables") == 0
            )
            assert (
                await conn.fetchval(
                    "SELECT count(*) FROM timescaledb_information.continuous_aggregates"
                )
                == 0
            )
        with pytest.raises(MigrationError, match="uses the partitioned tier"):
            await migrate(conn, tier="timescale")
        assert (await migrate(conn)).applied == ()  # auto keeps the recorded tier
        health = await schema_health(conn)
        assert health.tier is SchemaTier.PARTITIONED and health.jobs == ()
    finally:
        conn.terminate()


async def test_compressed_days_merge_into_chunks_of_up_to_7_days(timescale_url: str) -> None:
    """Migration 0010: each day compressed by ``maintain`` (as by the policy) joins the
    previous compressed chunk, up to 7 days per chunk; the rows, and every aggregate
    computed from them, are unchanged; retention then drops a merged chunk whole."""
    from lib_analytics_core import maintain

    conn = await _connect(timescale_url)
    try:
        await migrate(conn)
        now: dt.datetime = await conn.fetchval("SELECT now()")
        events = ref.generate(now, days=24, n=2400, seed=41)
        await ref.insert(conn, events, chunk_size=300)
        raw = (
            "SELECT row(count(*), count(DISTINCT event_id), sum(length(data::text)))::text"
            " FROM analytics_events"
        )
        before = await conn.fetchval(raw)
        days = len(await chunk_states(conn))
        report = await maintain(conn)
        assert report.chunks_compressed
        chunks = await chunk_states(conn)
        compressed = [c for c in chunks if c.compressed]
        assert all(c.fully_compressed for c in compressed)
        assert max(c.range_end - c.range_start for c in compressed) <= dt.timedelta(days=7)
        assert len(compressed) < len(report.chunks_compressed), (
            f"{len(report.chunks_compressed)} days compressed into {len(compressed)} chunks: "
            "nothing merged"
        )
        assert len(chunks) < days
        assert await conn.fetchval(raw) == before
        ref.compare(await ref.fetch_aggregates(conn), ref.reference(events))

        # Retention: a merged chunk stays while its newest day is inside the horizon
        # (its older days with it), and goes whole once that day is past it.
        oldest = min(compressed, key=lambda c: c.range_start)
        assert oldest.range_end - oldest.range_start > dt.timedelta(days=1)
        newest_age = now - oldest.range_end
        kept = await maintain(conn, retention=newest_age + dt.timedelta(hours=12), refresh=False)
        assert oldest.name not in kept.chunks_dropped
        assert oldest.name in {c.name for c in await chunk_states(conn)}
        gone = await maintain(conn, retention=newest_age - dt.timedelta(hours=12), refresh=False)
        assert oldest.name in gone.chunks_dropped
        assert oldest.name not in {c.name for c in await chunk_states(conn)}
    finally:
        conn.terminate()
