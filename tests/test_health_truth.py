"""Health says what is true of the data, not of job bookkeeping (issue 18 item 3).

* Late rows (a spool replayed after an outage) inside buckets already materialised leave
  an aggregate wrong until a refresh covers them: ``status --check`` must fail then, on
  both tiers, and pass again after ``maintain``.
* A job whose runs "fail" while its aggregate stays current (a native TimescaleDB 2.28.3
  on PostgreSQL 15.20 fails every job after it did its work: "cannot drop portal") is a
  warning naming the server's error, not an outage: ``status --check`` exits 0.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

import lib_analytics_core as lac
from lib_analytics_core.schema.health import DEFAULT_MAX_STALENESS, schema_health
from tests import _aggregate_reference as ref

CLI = str(Path(sys.executable).with_name("analytics-migrate"))


def _check(url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if "DATABASE_URL" not in k}
    return subprocess.run(
        [CLI, "status", "--check", "--database-url", url, *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


async def _check_exit(conn: asyncpg.Connection, url: str | None, *extra: str) -> tuple[int, str]:
    """``status --check`` exit code and output: the CLI, or (PGlite serves one
    connection, which the test holds) the same decision in-process."""
    if url is not None:
        out = await asyncio.to_thread(_check, url, *extra)
        return out.returncode, out.stdout + out.stderr
    limit = dt.timedelta(0) if extra == ("--max-staleness", "0s") else DEFAULT_MAX_STALENESS
    problems = (await schema_health(conn)).problems(limit)
    return (1 if problems else 0), "\n".join(problems)


async def _late_rows_flip_the_check(conn: asyncpg.Connection, url: str | None) -> None:
    now: dt.datetime = await conn.fetchval("SELECT now()")
    events = ref.generate(now, days=12, n=600, seed=21)
    await ref.insert(conn, events, chunk_size=100)
    await lac.maintain(conn)
    code, text = await _check_exit(conn, url)
    assert code == 0, text
    health = await schema_health(conn)
    assert health.ok(), health.problems()
    # A spool replayed after an outage: rows for a day eight days back.
    late = ref.generate(now - dt.timedelta(days=8), days=1, n=30, seed=22)
    await ref.insert(conn, late, chunk_size=30)
    health = await schema_health(conn)
    late_aggs = {a.name for a in health.aggregates if a.late_since is not None}
    assert "analytics_daily_active_users" in late_aggs, health.aggregates
    # The API's role sees it too.
    await conn.execute("SET ROLE analytics_reader")
    as_reader = await schema_health(conn)
    await conn.execute("RESET ROLE")
    assert {a.name for a in as_reader.aggregates if a.late_since is not None} == late_aggs
    # ``0s``: any late row that no refresh has covered yet is a problem.
    code, text = await _check_exit(conn, url, "--max-staleness", "0s")
    assert code == 1, text
    assert "late rows" in text
    await lac.maintain(conn)
    code, text = await _check_exit(conn, url, "--max-staleness", "0s")
    assert code == 0, text
    ref.compare(await ref.fetch_aggregates(conn), ref.reference(events + late))


async def test_late_rows_fail_the_check_until_maintain_partitioned(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await _late_rows_flip_the_check(conn, database_url)
    finally:
        await conn.close()


@pytest.mark.timescale
async def test_late_rows_fail_the_check_until_maintain_timescale(timescale_url: str) -> None:
    conn = await asyncpg.connect(timescale_url, statement_cache_size=0)
    try:
        await conn.execute("SET search_path = public")
        await lac.migrate(conn)
        native = "emscripten" not in str(await conn.fetchval("SELECT version()")).lower()
        await _late_rows_flip_the_check(conn, timescale_url if native else None)
    finally:
        await conn.close()


@pytest.fixture
async def native_db() -> AsyncIterator[str]:
    url = os.environ.get("TEST_TIMESCALE_URL")
    if not url:
        pytest.skip("needs a native TimescaleDB with its scheduler: set TEST_TIMESCALE_URL")
    admin = await asyncpg.connect(url)
    try:
        if "emscripten" in str(await admin.fetchval("SELECT version()")).lower():
            pytest.skip("TEST_TIMESCALE_URL is PGlite (no scheduler)")
        name = f"lac_hlth_{uuid.uuid4().hex[:10]}"
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base, _, _ = url.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        admin = await asyncpg.connect(url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def test_failing_jobs_with_current_data_are_a_warning(native_db: str) -> None:
    conn = await asyncpg.connect(native_db)
    try:
        await lac.migrate(conn)
        now: dt.datetime = await conn.fetchval("SELECT now()")
        await ref.insert(conn, ref.generate(now, days=5, n=400, seed=31), chunk_size=100)
        await lac.maintain(conn)
        await conn.execute(
            "SELECT alter_job(job_id, schedule_interval => INTERVAL '1 second',"
            " next_start => now()) FROM timescaledb_information.jobs WHERE job_id >= 1000"
        )
        for _ in range(120):  # until the scheduler has run (and, here, "failed") every job
            health = await schema_health(conn)
            if health.jobs and all(j.total_runs > 0 for j in health.jobs):
                break
            await asyncio.sleep(0.5)  # polling what the server's scheduler makes true
        failing = [j for j in health.jobs if j.failing]
        if not failing:
            pytest.skip("this server's jobs do not fail; nothing to show")
        await lac.maintain(conn)  # data current whatever the jobs did
        out = await asyncio.to_thread(_check, native_db)
        assert out.returncode == 0, out.stdout
        assert "WARNING: job" in out.stdout and "reports failures" in out.stdout
        assert failing[0].last_error is None or failing[0].last_error in out.stdout
        report = (await schema_health(conn)).as_dict()
        assert report["ok"] and report["warnings"]
    finally:
        await conn.close()
