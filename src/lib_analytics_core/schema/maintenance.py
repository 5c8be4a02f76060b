"""Keeping the schema's data lifecycle going: partitions, aggregates, retention.

On the **timescale** tier TimescaleDB's own background jobs do all of it (chunks,
continuous-aggregate refresh policies, compression, retention); :func:`maintain` has
nothing to do there. On the **partitioned** tier (plain PostgreSQL, TimescaleDB
Apache-only) :func:`maintain` is that job; run it hourly (``analytics-migrate
maintain`` from cron, or a task in any service). It is safe to run from many processes
at once: a session advisory lock serialises runs on one database.

Each run:

1. creates the daily partitions from yesterday to ``premake`` ahead, and moves rows
   that landed in the default partition (backfill, clock skew) into partitions of their
   own day;
2. drops whole partitions older than ``retention`` (90 days) and records that horizon:
   aggregates are never recomputed below it, so their history outlives the raw rows;
3. refreshes the aggregate tables incrementally: the last 3 days (like the
   TimescaleDB policies) plus every day the invalidation log says received rows since
   the last refresh (the watermark that keeps backfilled history from being missed).
   Each day range is recomputed as delete + insert of its buckets, all in one
   transaction with consuming the log, so a failure leaves the old rows and the log.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Any

import asyncpg

from .._errors import DatabaseError
from .migrate import REFRESH_WINDOW, acquire
from .server import SchemaTier

__all__ = ["RAW_RETENTION", "MaintenanceReport", "maintain", "refresh_aggregates"]

logger = logging.getLogger("lib_analytics_core.maintenance")

MAINTENANCE_LOCK_KEY = 7236912002
"""Advisory lock key serialising maintenance (also taken inside the partition functions)."""

RAW_RETENTION = dt.timedelta(days=90)
"""Raw events older than this are dropped (whole days); aggregates are kept."""

PREMAKE = dt.timedelta(days=7)
"""Daily partitions are created this far ahead."""

_DAY = dt.timedelta(days=1)
_ORIGIN = dt.datetime(2000, 1, 3, tzinfo=dt.UTC)

TIMESCALE_AGGREGATES = (
    # Refresh order: a rollup after its source.
    "analytics_daily_active_users",
    "analytics_task_stats_daily",
    "analytics_api_latency_hourly",
    "analytics_api_latency_daily",
    "analytics_integration_health_daily",
    "analytics_auth_events_daily",
    "analytics_cocoon_activity_daily",
    "analytics_errors_hourly",
)


@dataclasses.dataclass(frozen=True, slots=True)
class MaintenanceReport:
    """What a :func:`maintain` or :func:`refresh_aggregates` call did."""

    tier: SchemaTier
    partitions_created: int = 0
    partitions_dropped: tuple[str, ...] = ()
    refreshed_ranges: tuple[tuple[dt.datetime, dt.datetime], ...] = ()
    """Day ranges ``[start, end)`` whose aggregate buckets were recomputed."""


def _floor_day(t: dt.datetime) -> dt.datetime:
    t = t.astimezone(dt.UTC)
    return t.replace(hour=0, minute=0, second=0, microsecond=0)


def _ceil_day(t: dt.datetime) -> dt.datetime:
    f = _floor_day(t)
    return f if f == t else f + _DAY


def _merge(ranges: list[tuple[dt.datetime, dt.datetime]]) -> list[tuple[dt.datetime, dt.datetime]]:
    merged: list[tuple[dt.datetime, dt.datetime]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


async def _schema_tier(conn: asyncpg.Connection[Any]) -> SchemaTier:
    tier = await conn.fetchval(
        "SELECT tier FROM analytics_schema_migrations ORDER BY version LIMIT 1"
        if await conn.fetchval("SELECT to_regclass('analytics_schema_migrations') IS NOT NULL")
        else "SELECT NULL::text"
    )
    if tier is None:
        raise DatabaseError("the analytics schema is not migrated here; run analytics-migrate")
    return SchemaTier(tier)


async def maintain(
    pool_or_conn: Any,
    *,
    retention: dt.timedelta = RAW_RETENTION,
    premake: dt.timedelta = PREMAKE,
    refresh: bool = True,
) -> MaintenanceReport:
    """Run one maintenance pass (see the module docstring); returns what it did.

    ``retention`` and ``premake`` exist for tests and unusual deployments; the defaults
    are the documented lifecycle. On the timescale tier this is a no-op (TimescaleDB's
    policies do the work) and reports nothing done.
    """
    async with acquire(pool_or_conn) as conn:
        tier = await _schema_tier(conn)
        if tier is SchemaTier.TIMESCALE:
            return MaintenanceReport(tier=tier)
        await conn.execute("SELECT pg_advisory_lock($1)", MAINTENANCE_LOCK_KEY)
        try:
            try:
                now: dt.datetime = await conn.fetchval("SELECT now()")
                created = await _ensure_partitions(conn, now, retention, premake)
                cutoff = now - retention
                dropped = await conn.fetchval(
                    "SELECT coalesce(array_agg(p), '{}') FROM analytics_drop_partitions($1) AS p",
                    cutoff,
                )
                ranges: tuple[tuple[dt.datetime, dt.datetime], ...] = ()
                if refresh:
                    ranges = await _refresh_partitioned(conn, now, None, None)
            except asyncpg.PostgresError as err:
                raise DatabaseError(f"maintenance failed: {err}") from err
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", MAINTENANCE_LOCK_KEY)
    if dropped:
        logger.info("retention dropped %d raw partitions", len(dropped))
    return MaintenanceReport(
        tier=tier,
        partitions_created=created,
        partitions_dropped=tuple(dropped),
        refreshed_ranges=ranges,
    )


async def _ensure_partitions(
    conn: asyncpg.Connection[Any], now: dt.datetime, retention: dt.timedelta, premake: dt.timedelta
) -> int:
    # Days ahead, plus days that have rows waiting in the default partition (within
    # retention: older rows are about to be deleted anyway).
    days = await conn.fetch(
        """
        SELECT d FROM generate_series($1::timestamptz, $2::timestamptz, INTERVAL '1 day') AS d
        UNION
        SELECT DISTINCT
            date_bin(INTERVAL '1 day', "timestamp", TIMESTAMPTZ '2000-01-03 00:00:00+00')
        FROM analytics_events_default
        WHERE "timestamp" >= $3
        ORDER BY 1
        """,
        now - _DAY,
        now + premake,
        _floor_day(now - retention),
    )
    created = 0
    for row in days:
        async with conn.transaction():
            if await conn.fetchval("SELECT analytics_ensure_partition($1)", row["d"]):
                created += 1
    return created


async def _refresh_partitioned(
    conn: asyncpg.Connection[Any],
    now: dt.datetime,
    start: dt.datetime | None,
    end: dt.datetime | None,
) -> tuple[tuple[dt.datetime, dt.datetime], ...]:
    aggregates = await conn.fetch(
        "SELECT name, bucket_column, refresh_sql FROM analytics_aggregate_refresh ORDER BY position"
    )
    async with conn.transaction():
        horizon = await conn.fetchval(
            "SELECT value FROM analytics_maintenance_state WHERE key = 'retention_horizon'"
        )
        invalidated = await conn.fetch("DELETE FROM analytics_refresh_invalidations RETURNING day")
        ranges = [(r["day"], r["day"] + _DAY) for r in invalidated]
        if start is None and end is None:
            ranges.append((_floor_day(now - REFRESH_WINDOW), _floor_day(now) + _DAY))
        else:
            lo = _floor_day(start) if start is not None else None
            hi = _ceil_day(end) if end is not None else _floor_day(now) + _DAY
            if lo is None:
                lo = await conn.fetchval(
                    "SELECT date_bin(INTERVAL '1 day', min(\"timestamp\"),"
                    " TIMESTAMPTZ '2000-01-03 00:00:00+00') FROM analytics_events"
                )
            if lo is not None and lo < hi:
                ranges.append((lo, hi))
        merged: list[tuple[dt.datetime, dt.datetime]] = []
        for r_lo, r_hi in _merge(ranges):
            # Raw rows below the retention horizon are gone: never recompute there.
            lo = r_lo if horizon is None else max(r_lo, horizon)
            if lo < r_hi:
                merged.append((lo, r_hi))
        for lo, hi in merged:
            for agg in aggregates:
                name = agg["name"]
                col = agg["bucket_column"]
                # Names come from the library's own migration rows; quote anyway.
                qname = _quote_ident(name)
                qcol = _quote_ident(col)
                await conn.execute(
                    f"DELETE FROM {qname} WHERE {qcol} >= $1 AND {qcol} < $2",
                    lo,
                    hi,
                )
                await conn.execute(f"INSERT INTO {qname} {agg['refresh_sql']}", lo, hi)
            await _refresh_active_users(conn, lo, hi)
            await _refresh_distributions(conn, lo, hi)
        await conn.execute(
            "INSERT INTO analytics_maintenance_state (key, value) VALUES ('last_refresh', $1)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            now,
        )
    return tuple(merged)


async def _refresh_active_users(
    conn: asyncpg.Connection[Any], lo: dt.datetime, hi: dt.datetime
) -> None:
    """Recompute the precomputed DAU/WAU/MAU days that ``[lo, hi)`` affects (migration
    0003; skipped on a schema that does not have it yet)."""
    if await conn.fetchval("SELECT to_regclass('analytics_active_users_daily') IS NOT NULL"):
        await conn.execute("SELECT analytics_refresh_active_users($1, $2)", lo, hi)


async def _refresh_distributions(
    conn: asyncpg.Connection[Any], lo: dt.datetime, hi: dt.datetime
) -> None:
    """Recompute the sparse-distribution rollups of ``[lo, hi)`` from raw rows (migration
    0004; skipped on a schema that does not have it yet)."""
    if await conn.fetchval(
        "SELECT to_regprocedure('analytics_refresh_distributions(timestamptz,timestamptz)')"
        " IS NOT NULL"
    ):
        await conn.execute("SELECT analytics_refresh_distributions($1, $2)", lo, hi)


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def refresh_aggregates(
    pool_or_conn: Any, start: dt.datetime | None = None, end: dt.datetime | None = None
) -> MaintenanceReport:
    """Bring every aggregate up to date for ``[start, end)``, on every tier.

    Without bounds: the regular refresh window (last 3 days) plus, on the partitioned
    tier, every invalidated day. With ``start``: from that day (``end`` defaults to now).
    Ranges are widened to whole UTC days and never reach below the raw retention
    horizon, so a refresh cannot erase aggregate history whose raw rows were dropped.

    On TimescaleDB this CALLs ``refresh_continuous_aggregate`` for each aggregate (a
    rollup after its source). That procedure refuses to run inside a transaction: do
    not call this inside ``conn.transaction()``.
    """
    async with acquire(pool_or_conn) as conn:
        tier = await _schema_tier(conn)
        now: dt.datetime = await conn.fetchval("SELECT now()")
        if tier is SchemaTier.PARTITIONED:
            await conn.execute("SELECT pg_advisory_lock($1)", MAINTENANCE_LOCK_KEY)
            try:
                try:
                    ranges = await _refresh_partitioned(conn, now, start, end)
                except asyncpg.PostgresError as err:
                    raise DatabaseError(f"aggregate refresh failed: {err}") from err
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", MAINTENANCE_LOCK_KEY)
            return MaintenanceReport(tier=tier, refreshed_ranges=ranges)
        return await _refresh_timescale(conn, now, start, end)


async def _refresh_timescale(
    conn: asyncpg.Connection[Any],
    now: dt.datetime,
    start: dt.datetime | None,
    end: dt.datetime | None,
) -> MaintenanceReport:
    lo = _floor_day(start) if start is not None else _floor_day(now - REFRESH_WINDOW)
    hi = _ceil_day(end) if end is not None else _floor_day(now) + _DAY
    # Never refresh below the oldest raw chunk: buckets there would be recomputed from
    # nothing and their history erased.
    oldest = await conn.fetchval(
        "SELECT min(range_start) FROM timescaledb_information.chunks"
        " WHERE hypertable_name = 'analytics_events'"
    )
    if oldest is None:
        return MaintenanceReport(tier=SchemaTier.TIMESCALE)
    lo = max(lo, _ceil_day(oldest))
    if lo >= hi:
        return MaintenanceReport(tier=SchemaTier.TIMESCALE)
    try:
        for name in TIMESCALE_AGGREGATES:
            await conn.execute(
                "CALL refresh_continuous_aggregate($1::regclass, $2::timestamptz, $3::timestamptz)",
                name,
                lo,
                hi,
            )
        await _refresh_active_users(conn, lo, hi)
        await _refresh_distributions(conn, lo, hi)
    except asyncpg.PostgresError as err:
        raise DatabaseError(f"continuous aggregate refresh failed: {err}") from err
    return MaintenanceReport(tier=SchemaTier.TIMESCALE, refreshed_ranges=((lo, hi),))
