"""Aggregates on the partitioned tier (plain PostgreSQL) against a Python reference."""

from __future__ import annotations

import datetime as dt

import asyncpg

from lib_analytics_core import maintain, refresh_aggregates
from lib_analytics_core.read import histogram as h
from tests import _aggregate_reference as ref

MEASURED: dict[str, float] = {}


async def _load(db: asyncpg.Connection) -> tuple[dt.datetime, list[ref.Event]]:
    now: dt.datetime = await db.fetchval("SELECT now()")
    events = ref.generate(now, days=28, n=3000)
    await ref.insert(db, events)
    return now, events


async def test_every_aggregate_column_matches_reference(db: asyncpg.Connection) -> None:
    now, events = await _load(db)
    report = await refresh_aggregates(db, start=now - dt.timedelta(days=40))
    assert report.refreshed_ranges
    got = await ref.fetch_aggregates(db)
    worst = ref.compare(got, ref.reference(events))
    assert all(len(got[a]) > 0 for a in ref.AGGREGATES)
    MEASURED.update(worst)


async def test_dau_wau_mau_exact_and_percentiles_within_bound(db: asyncpg.Connection) -> None:
    now, events = await _load(db)
    await refresh_aggregates(db, start=now - dt.timedelta(days=40))
    day0 = now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    for days in (1, 7, 28):
        lo = day0 - dt.timedelta(days=days - 1)
        want = {e[4] for e in events if e[4] is not None and e[0] >= lo}
        got = await db.fetchval(
            "SELECT count(DISTINCT user_id) FROM analytics_daily_active_users WHERE day >= $1", lo
        )
        assert got == len(want)

    worst = 0.0
    api = [e for e in events if e[2] == "api_request"]
    for svc in (None, "platform", "auth"):
        for days in (2, 7, 28):
            lo = day0 - dt.timedelta(days=days - 1)
            values = [
                e[5]["duration_ms"] for e in api if e[0] >= lo and (svc is None or e[3] == svc)
            ]
            rows = await db.fetch(
                "SELECT hist_keys, hist_counts FROM analytics_api_day_service"
                " WHERE bucket >= $1 AND ($2::text IS NULL OR service = $2)",
                lo,
                svc,
            )
            keys, counts = h.merge((r["hist_keys"], r["hist_counts"]) for r in rows)
            assert sum(counts) == len(values)
            if not values:
                assert h.percentile(keys, counts, 0.5) is None
                continue
            for q in (0.5, 0.95, 0.99):
                est = h.percentile(keys, counts, q)
                true = ref.nearest_rank(values, q)
                assert est is not None
                err = abs(est - true) / true if true else abs(est)
                assert err <= h.RELATIVE_ERROR_BOUND + 1e-12, (svc, days, q, est, true)
                worst = max(worst, err)
    MEASURED["api_latency percentile max relative error"] = worst


async def test_incremental_maintain_picks_up_backfill(db: asyncpg.Connection) -> None:
    now, events = await _load(db)
    await maintain(db)  # window + every invalidated day: all of the loaded history
    ref.compare(await ref.fetch_aggregates(db), ref.reference(events))
    # Backfill rows for a day three weeks ago: the invalidation log must get them in.
    more = ref.generate(now - dt.timedelta(days=20), days=1, n=200, seed=99)
    await ref.insert(db, more)
    report = await maintain(db)
    assert any(lo <= more[0][0] < hi for lo, hi in report.refreshed_ranges)
    ref.compare(await ref.fetch_aggregates(db), ref.reference(events + more))


async def test_aggregates_survive_retention(db: asyncpg.Connection) -> None:
    now, _events = await _load(db)
    await maintain(db)  # moves rows into daily partitions, refreshes everything
    before = await ref.fetch_aggregates(db)
    parts_before = await db.fetchval(
        "SELECT count(*) FROM pg_inherits WHERE inhparent = 'analytics_events'::regclass"
    )
    report = await maintain(db, retention=dt.timedelta(days=10))
    assert len(report.partitions_dropped) >= 15
    cutoff = now - dt.timedelta(days=10)
    assert (
        await db.fetchval(
            'SELECT count(*) FROM analytics_events WHERE "timestamp" < $1',
            cutoff - dt.timedelta(days=1),
        )
        == 0
    )
    parts_after = await db.fetchval(
        "SELECT count(*) FROM pg_inherits WHERE inhparent = 'analytics_events'::regclass"
    )
    assert parts_after == parts_before - len(report.partitions_dropped)
    # Even an explicit refresh over the dropped range must not erase history.
    await refresh_aggregates(db, start=now - dt.timedelta(days=40))
    assert await ref.fetch_aggregates(db) == before


async def test_maintain_creates_partitions_and_moves_default_rows(db: asyncpg.Connection) -> None:
    now: dt.datetime = await db.fetchval("SELECT now()")
    old = ref.generate(now - dt.timedelta(days=30), days=2, n=50, seed=3)
    await ref.insert(db, old)
    in_default = await db.fetchval("SELECT count(*) FROM analytics_events_default")
    assert in_default == 50
    report = await maintain(db)
    assert report.partitions_created >= 2
    assert await db.fetchval("SELECT count(*) FROM analytics_events_default") == 0
    assert await db.fetchval("SELECT count(*) FROM analytics_events") == 50
    ahead = (now + dt.timedelta(days=7)).astimezone(dt.UTC).strftime("%Y%m%d")
    assert await db.fetchval("SELECT to_regclass($1) IS NOT NULL", f"analytics_events_p{ahead}")


async def test_concurrent_maintain(database_url: str) -> None:
    import asyncio

    conns = [await asyncpg.connect(database_url) for _ in range(5)]
    try:
        now: dt.datetime = await conns[0].fetchval("SELECT now()")
        events = ref.generate(now, days=10, n=800, seed=5)
        await ref.insert(conns[0], events)
        parts = "SELECT count(*) FROM pg_inherits WHERE inhparent = 'analytics_events'::regclass"
        before = await conns[0].fetchval(parts)
        reports = await asyncio.gather(*(maintain(c) for c in conns))
        created = sum(r.partitions_created for r in reports)
        assert created >= 8  # the 10 loaded days minus those the migration pre-created
        assert await conns[0].fetchval(parts) == before + created
        assert await conns[0].fetchval("SELECT count(*) FROM analytics_events_default") == 0
        ref.compare(await ref.fetch_aggregates(conns[0]), ref.reference(events))
    finally:
        for c in conns:
            await c.close()
