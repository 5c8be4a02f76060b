"""Upgrading a database with history to migration 0004, on both tiers.

The 0002 aggregates are archived as ``*_v0002`` with their rows, the recreated ones and
the new distribution rollups are rebuilt from the raw rows, and every column matches the
Python reference (on TimescaleDB the runner fills the new continuous aggregates after
the commit).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
import pytest

import lib_analytics_core as lac
from lib_analytics_core.schema import migrate as m
from tests import _aggregate_reference as ref

ARCHIVED = (
    "analytics_task_stats_daily",
    "analytics_api_latency_hourly",
    "analytics_api_latency_daily",
    "analytics_integration_health_daily",
    "analytics_auth_events_daily",
    "analytics_cocoon_activity_daily",
)


async def _upgrade(conn: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    real = m.load_migrations()
    with monkeypatch.context() as patch:
        patch.setattr(m, "load_migrations", lambda: real[:3])
        assert len((await lac.migrate(conn)).applied) == 3
    now: dt.datetime = await conn.fetchval("SELECT now()")
    events = ref.generate(now, days=10, n=800, seed=3)
    await ref.insert(conn, events, chunk_size=100)
    await lac.refresh_aggregates(conn, start=now - dt.timedelta(days=12))
    before = {a: await conn.fetchval(f"SELECT count(*) FROM {a}") for a in ARCHIVED}
    assert all(before.values())

    report = await lac.migrate(conn)
    assert report.applied[0] == "0004_post_sparse_distributions"
    assert all(name > "0004" for name in report.applied[1:])  # later migrations follow it
    for agg in ARCHIVED:  # history kept, under the archive name
        assert await conn.fetchval(f"SELECT count(*) FROM {agg}_v0002") == before[agg]
    got = await ref.fetch_aggregates(conn)
    ref.compare(got, ref.reference(events))  # rebuilt from raw, no refresh needed
    assert all(got[a] for a in ref.AGGREGATES)


async def test_upgrade_rebuilds_history_postgresql(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = await asyncpg.connect(empty_database_url)
    try:
        await _upgrade(conn, monkeypatch)
        # The archived tables are no longer refreshed.
        names = await conn.fetchval("SELECT array_agg(name) FROM analytics_aggregate_refresh")
        assert not any(n.endswith("_v0002") for n in names)
    finally:
        await conn.close()


@pytest.mark.timescale
async def test_upgrade_rebuilds_history_timescaledb(
    timescale_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = await asyncpg.connect(timescale_url, statement_cache_size=0)
    try:
        await _upgrade(conn, monkeypatch)
        policies = await conn.fetch(
            "SELECT c.user_view_name AS view_name FROM timescaledb_information.jobs j"
            " JOIN _timescaledb_catalog.continuous_agg c"
            " ON c.mat_hypertable_id = (j.config->>'mat_hypertable_id')::int"
            " WHERE j.proc_name = 'policy_refresh_continuous_aggregate'"
        )
        with_policy = {r["view_name"] for r in policies}
        assert set(ARCHIVED) <= with_policy  # the recreated ones have their policies
        assert not any(v.endswith("_v0002") for v in with_policy)  # archives: none
    finally:
        await conn.close()
