"""Upgrades that cannot race the server's own jobs (issue 18 item 2).

* On a native TimescaleDB whose scheduler runs every job every two seconds: a database
  an older release migrated (0001-0003, the exact SQL those releases ran: their
  checksums are pinned in test_schema_sql.py) with three weeks of data is upgraded by
  ``analytics-migrate all`` while writers keep writing; the run must exit 0, and every
  figure of every aggregate then equals a recomputation from the raw rows: the days
  beyond the policies' 3-day window straight after the upgrade (only the upgrade fills
  them), then everything after one ``maintain()`` beside the running jobs (which used to
  fail: the distributions job did not take the maintenance lock, migration 0011).
* On any TimescaleDB (PGlite in CI): the refresh after a migration meets a concurrent
  refresh (the error a policy job causes, injected at the refresh call) and retries; when
  the retries run out the run fails, the history says the migration's aggregates are not
  filled, ``status --check`` fails, and the next run finishes the work.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import os
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

import lib_analytics_core as lac
from lib_analytics_core import MigrationError
from lib_analytics_core.schema import migrate as m
from lib_analytics_core.schema import timescale as ts_mod
from lib_analytics_core.schema.health import schema_health
from tests import _aggregate_reference as ref

CLI = str(Path(sys.executable).with_name("analytics-migrate"))
OLD = 3  # the release before 0004: migrations 0001-0003


async def _old_release(conn: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    real = m.load_migrations()
    with monkeypatch.context() as patch:
        patch.setattr(m, "load_migrations", lambda: real[:OLD])
        assert len((await lac.migrate(conn, tier="timescale")).applied) == OLD


@pytest.fixture
async def native_db() -> AsyncIterator[str]:
    url = os.environ.get("TEST_TIMESCALE_URL")
    if not url:
        pytest.skip("needs a native TimescaleDB with its scheduler: set TEST_TIMESCALE_URL")
    admin = await asyncpg.connect(url)
    try:
        version = str(await admin.fetchval("SELECT version()"))
        workers = await admin.fetchval(
            "SELECT setting FROM pg_settings WHERE name = 'timescaledb.max_background_workers'"
        )
        if "emscripten" in version.lower() or not workers or int(workers) == 0:
            pytest.skip("TEST_TIMESCALE_URL is not a native server with a scheduler")
        name = f"lac_upg_{uuid.uuid4().hex[:10]}"
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


async def _fast_scheduler(url: str, stop: asyncio.Event) -> None:
    """Keep every job of this database on a 2-second schedule, including the jobs the
    upgrade adds (TimescaleDB starts a new policy at once, then on its interval)."""
    conn = await asyncpg.connect(url)
    try:
        while not stop.is_set():
            await conn.execute(
                "SELECT alter_job(job_id, schedule_interval => INTERVAL '2 seconds')"
                " FROM timescaledb_information.jobs"
                " WHERE job_id >= 1000 AND schedule_interval > INTERVAL '2 seconds'"
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.3)
    finally:
        await conn.close()


async def _writer(url: str, stop: asyncio.Event, written: list[ref.Event], seed: int) -> None:
    """The old code, writing: batches of current events until told to stop."""
    conn = await asyncpg.connect(url)
    try:
        batch = 0
        while not stop.is_set():
            now: dt.datetime = await conn.fetchval("SELECT now()")
            events = ref.generate(now, days=1, n=40, seed=seed * 100_000 + batch)
            await ref.insert(conn, events, chunk_size=40)
            written.extend(events)
            batch += 1
    finally:
        await conn.close()


def _older_than(
    figures: dict[str, dict[tuple[Any, ...], dict[str, Any]]], cutoff: dt.datetime
) -> dict[str, dict[tuple[Any, ...], dict[str, Any]]]:
    """Only the groups whose bucket (the first key) starts before ``cutoff``."""
    return {agg: {k: v for k, v in rows.items() if k[0] < cutoff} for agg, rows in figures.items()}


async def _converged(conn: asyncpg.Connection, events: list[ref.Event], now: dt.datetime) -> None:
    """Every figure against a recomputation from raw, in two steps that wait for nothing.

    First the days before the policies' 3-day window, straight after the upgrade: no
    job touches them, so they are right only if the upgrade filled its aggregates (the
    defect the issue found: "applied" with 18 wrong daily figures). Then everything,
    after one ``maintain`` (what the operator runs; on a native server it retries beside
    the running policy jobs): the rows the writers added during the upgrade included.
    Waiting for the policies instead made the test depend on how fast the scheduler
    runs on a busy machine (it failed once in a run at load average 5).
    """
    cutoff = (now - dt.timedelta(days=4)).replace(hour=0, minute=0, second=0, microsecond=0)
    got, want = await ref.fetch_aggregates(conn), ref.reference(events)
    ref.compare(_older_than(got, cutoff), _older_than(want, cutoff))
    await lac.maintain(conn)
    ref.compare(await ref.fetch_aggregates(conn), want)


async def test_upgrade_while_writing_with_the_scheduler_running(
    native_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = await asyncpg.connect(native_db)
    stop_writers, stop_scheduler = asyncio.Event(), asyncio.Event()
    written: list[ref.Event] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        await _old_release(conn, monkeypatch)
        now: dt.datetime = await conn.fetchval("SELECT now()")
        history = ref.generate(now, days=21, n=12_000, seed=11)
        await ref.insert(conn, history, chunk_size=1000)
        # As the old release left it: its aggregates current (it received the rows over
        # weeks; here they came at once, so its maintain() catches the old days up).
        await lac.refresh_aggregates(conn, start=now - dt.timedelta(days=22))
        tasks.append(asyncio.create_task(_fast_scheduler(native_db, stop_scheduler)))
        tasks += [
            asyncio.create_task(_writer(native_db, stop_writers, written, seed)) for seed in (1, 2)
        ]
        proc = await asyncio.create_subprocess_exec(
            CLI,
            "all",
            "--database-url",
            native_db,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={k: v for k, v in os.environ.items() if "DATABASE_URL" not in k},
        )
        out, err = await proc.communicate()
        assert proc.returncode == 0, (out.decode(), err.decode())
        assert "applied  0004_post_sparse_distributions" in out.decode()
        stop_writers.set()
        await asyncio.gather(*tasks[1:])
        # Every figure, old days included, equals the recomputation from raw rows.
        await _converged(conn, history + written, now)
        status = await lac.migration_status(conn)
        assert not status.incomplete and not status.pending
    finally:
        stop_writers.set()
        stop_scheduler.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await conn.close()


# ------------------------------------------- deterministic: every TimescaleDB


@pytest.fixture
async def ts_conn(timescale_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(timescale_url, statement_cache_size=0)
    await conn.execute("SET search_path = public")
    try:
        yield conn
    finally:
        await conn.close()


class _Busy:
    """Makes the first ``n`` refreshes of the named aggregates fail the way a running
    policy job makes them fail (TimescaleDB's LockNotAvailableError)."""

    def __init__(self, n: int, names: set[str] | None = None) -> None:
        self.left = n
        self.names = names
        self.seen: list[str] = []
        self.real = ts_mod.refresh_cagg_once

    async def __call__(self, conn: Any, name: str, lo: Any, hi: Any) -> None:
        self.seen.append(name)
        if self.left > 0 and (self.names is None or name in self.names):
            self.left -= 1
            raise asyncpg.LockNotAvailableError(
                f'could not refresh continuous aggregate "{name}" due to a concurrent refresh'
            )
        await self.real(conn, name, lo, hi)


# Quick on PGlite (no scheduler); on a native server the real policy jobs race these
# refreshes too, so the budget must outlast one job run (about 20 s here).
FAST = ts_mod.RefreshRetry(attempts=40, first_delay=0.001, max_delay=0.5)


@pytest.mark.timescale
async def test_refresh_after_migration_retries_a_concurrent_refresh(
    ts_conn: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _old_release(ts_conn, monkeypatch)
    now: dt.datetime = await ts_conn.fetchval("SELECT now()")
    events = ref.generate(now, days=10, n=600, seed=5)
    await ref.insert(ts_conn, events, chunk_size=100)
    # The old release's aggregates are current (PGlite has no scheduler: refresh them).
    await lac.refresh_aggregates(ts_conn, start=now - dt.timedelta(days=12))
    busy = _Busy(3)  # fewer than the attempts
    monkeypatch.setattr(ts_mod, "refresh_cagg_once", busy)
    report = await lac.migrate(ts_conn, retry=FAST)
    assert "0004_post_sparse_distributions" in report.applied
    assert busy.left == 0 and len(busy.seen) > 3
    ref.compare(await ref.fetch_aggregates(ts_conn), ref.reference(events))


@pytest.mark.timescale
async def test_failed_refresh_fails_the_run_and_the_next_run_finishes_it(
    ts_conn: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _old_release(ts_conn, monkeypatch)
    now: dt.datetime = await ts_conn.fetchval("SELECT now()")
    events = ref.generate(now, days=10, n=600, seed=6)
    await ref.insert(ts_conn, events, chunk_size=100)
    # The old release's aggregates are current (PGlite has no scheduler: refresh them).
    await lac.refresh_aggregates(ts_conn, start=now - dt.timedelta(days=12))
    busy = _Busy(10_000, {"analytics_api_latency_hourly"})
    with monkeypatch.context() as patch:
        patch.setattr(ts_mod, "refresh_cagg_once", busy)
        with pytest.raises(MigrationError, match="analytics_api_latency_hourly") as failed:
            await lac.migrate(ts_conn, retry=FAST)
    assert "rerun" in str(failed.value)
    status = await lac.migration_status(ts_conn)
    (incomplete,) = status.incomplete
    assert incomplete.name == "0004_post_sparse_distributions"
    health = await schema_health(ts_conn)
    assert any("not filled" in p and "0004" in p for p in health.problems())
    # A second run finishes it (and says so), then there is nothing left.
    again = await lac.migrate(ts_conn)
    assert "0004_post_sparse_distributions" in again.completed
    ref.compare(await ref.fetch_aggregates(ts_conn), ref.reference(events))
    assert not (await lac.migration_status(ts_conn)).incomplete
    assert (await lac.migrate(ts_conn)).completed == ()


def test_retry_policy_defaults_are_pinned() -> None:
    d = ts_mod.RefreshRetry()
    assert (d.attempts, d.first_delay, d.max_delay) == (40, 0.25, 5.0)
    assert dataclasses.is_dataclass(d)
    with pytest.raises(lac.ConfigurationError):
        ts_mod.RefreshRetry(attempts=0)


async def test_the_distributions_job_stands_aside_while_maintenance_holds_its_lock(
    native_db: str,
) -> None:
    """Migration 0011: the job and maintain() recompute the same buckets by delete +
    insert; run together they failed with a unique violation. While another session
    holds the maintenance lock the job now changes nothing; once it is released the job
    refreshes again (a scheduled run of the same job may take the lock first: then the
    call is repeated, bounded)."""
    from lib_analytics_core.schema.facts import MAINTENANCE_LOCK_KEY

    conn, holder = await asyncpg.connect(native_db), await asyncpg.connect(native_db)
    notices: list[str] = []
    conn.add_log_listener(lambda _c, msg: notices.append(msg.message))
    try:
        await lac.migrate(conn)
        now: dt.datetime = await conn.fetchval("SELECT now()")
        events = [e for e in ref.generate(now, days=1, n=200, seed=5) if e[2] == "api_request"]
        assert events
        # Locked before the rows exist: no run of the job (ours or a scheduled one) may
        # refresh them while another session holds the lock.
        await holder.execute("SELECT pg_advisory_lock($1)", MAINTENANCE_LOCK_KEY)
        await ref.insert(conn, events)
        total = "SELECT coalesce(sum(requests), 0) FROM analytics_api_hour_total"
        await conn.execute("CALL analytics_distributions_job(0, '{}')")
        assert any("maintenance is running" in n for n in notices)
        assert await conn.fetchval(total) == 0
        await holder.execute("SELECT pg_advisory_unlock($1)", MAINTENANCE_LOCK_KEY)
        for _ in range(20):
            notices.clear()
            await conn.execute("CALL analytics_distributions_job(0, '{}')")
            if not any("maintenance is running" in n for n in notices):
                break
        assert await conn.fetchval(total) == len(events)
    finally:
        await holder.close()
        await conn.close()
