"""Keeping the schema's data lifecycle going: partitions/chunks, aggregates, retention.

:func:`maintain` is one idempotent pass that brings the schema to where its background
jobs would have it, on either tier. Run it every few minutes to an hour
(``analytics-migrate maintain`` from cron, or a task in any service). It is safe to run
from many processes at once and beside TimescaleDB's scheduler: a session advisory lock
serialises runs on one database.

On the **partitioned** tier (plain PostgreSQL, TimescaleDB Apache-only) it is the only
job there is. Each run:

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
   The per-user weekly rollup (migration 0020) is recomputed in the same transaction
   for the ended weeks of those days and the weeks the frequent refresh listed
   (:mod:`.maintenance_weekly`).
4. orders the partitions of finished days (older than ``ORDER_AFTER``, at most
   ``ORDER_PER_RUN`` per run, newest first) by event type (migration 0013), once each, so
   a question over one event type reads that type's pages only.

On the **timescale** tier TimescaleDB's jobs do this when its scheduler runs; where it
is off, starved or failing (see ``schema_health()``), each run does their work itself
(see :mod:`.timescale`): refreshes every continuous aggregate over what is invalidated
or not yet materialised (a rollup after its source; the per-user weekly one over the
weeks that have ended), recomputes the active-users rollup
from the first day that no longer matches its source, compresses chunks past the
compression horizon (and recompresses partially compressed ones), and drops chunks
past the retention.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Any

import asyncpg

from .._db import Connectable, acquire, advisory_lock, translate
from ._ranges import merge_ranges
from .facts import (
    ACTIVE_USERS_TABLE,
    COMPRESS_AFTER,
    DAILY_ACTIVE_USERS,
    MAINTENANCE_LOCK_KEY,
    ORDER_AFTER,
    ORDER_PER_RUN,
    ORDERED_DAYS_TABLE,
    PREMAKE,
    RAW_RETENTION,
    REFRESH_WINDOW,
    ceil_day,
    floor_day,
    quote_ident,
)
from .maintenance_weekly import refresh_weekly_partitioned, refresh_weekly_timescale
from .server import SchemaTier, recorded_tier
from .timescale import compress_chunks, drop_old_chunks, refresh_caggs

__all__ = ["RAW_RETENTION", "MaintenanceReport", "maintain", "refresh_aggregates"]

logger = logging.getLogger("lib_analytics_core.maintenance")

_DAY = dt.timedelta(days=1)
_floor_day = floor_day
_ceil_day = ceil_day
_quote_ident = quote_ident


@dataclasses.dataclass(frozen=True, slots=True)
class MaintenanceReport:
    """What a :func:`maintain` or :func:`refresh_aggregates` call did."""

    tier: SchemaTier
    partitions_created: int = 0
    partitions_dropped: tuple[str, ...] = ()
    refreshed_ranges: tuple[tuple[dt.datetime, dt.datetime], ...] = ()
    """Day ranges ``[start, end)`` whose aggregate buckets were recomputed."""
    chunks_compressed: tuple[str, ...] = ()
    """Timescale tier: chunks compressed or recompressed by this run."""
    chunks_dropped: tuple[str, ...] = ()
    """Timescale tier: raw chunks dropped by retention in this run."""
    days_ordered: tuple[dt.datetime, ...] = ()
    """Partitioned tier: days whose partition this run ordered by event type (0013)."""


async def maintain(
    pool_or_conn: Connectable,
    *,
    retention: dt.timedelta = RAW_RETENTION,
    premake: dt.timedelta = PREMAKE,
    refresh: bool = True,
    compress_after: dt.timedelta = COMPRESS_AFTER,
) -> MaintenanceReport:
    """Run one maintenance pass (see the module docstring); returns what it did.

    ``retention``, ``premake`` and ``compress_after`` exist for tests and unusual
    deployments; the defaults are the documented lifecycle (``premake`` applies to the
    partitioned tier, ``compress_after`` to the timescale tier).
    Raises :class:`~lib_analytics_core.DatabaseError` naming the failed step
    (:class:`~lib_analytics_core.DatabaseUnavailableError` if the connection is lost).
    """
    async with acquire(pool_or_conn, step="maintenance: connecting") as conn:
        with translate("maintenance: reading the schema tier"):
            tier = await recorded_tier(conn)
        async with advisory_lock(conn, MAINTENANCE_LOCK_KEY, step="maintenance"):
            if tier is SchemaTier.TIMESCALE:
                return await _maintain_timescale(conn, retention, compress_after, refresh)
            with translate("maintenance"):
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
            with translate("maintenance: ordering finished days by event type"):
                ordered = await _order_days(conn, now, cutoff)
    if dropped:
        logger.info("retention dropped %d raw partitions", len(dropped))
    return MaintenanceReport(
        tier=tier,
        partitions_created=created,
        partitions_dropped=tuple(dropped),
        refreshed_ranges=ranges,
        days_ordered=ordered,
    )


async def _order_days(
    conn: asyncpg.Connection[Any], now: dt.datetime, cutoff: dt.datetime
) -> tuple[dt.datetime, ...]:
    """Order up to ``ORDER_PER_RUN`` finished, not yet ordered days (newest first), each
    in a transaction of its own (its partition is locked only while it is rewritten).
    A schema from before migration 0013 has nothing to order."""
    if not await conn.fetchval("SELECT to_regproc('analytics_order_partition') IS NOT NULL"):
        return ()
    await conn.execute(f"DELETE FROM {ORDERED_DAYS_TABLE} WHERE day < $1", _floor_day(cutoff))
    days = await conn.fetch(
        f"""
        SELECT d.day FROM (
            SELECT (to_date(right(c.relname, 8), 'YYYYMMDD')::timestamp AT TIME ZONE 'UTC') AS day
            FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = 'analytics_events'::regclass
              AND c.relname ~ '^analytics_events_p[0-9]{{8}}$'
        ) AS d
        WHERE d.day + INTERVAL '1 day' <= $1 AND d.day >= $2
          AND NOT EXISTS (SELECT 1 FROM {ORDERED_DAYS_TABLE} o WHERE o.day = d.day)
        ORDER BY d.day DESC
        LIMIT $3
        """,
        now - ORDER_AFTER,
        _floor_day(cutoff),
        ORDER_PER_RUN,
    )
    ordered: list[dt.datetime] = []
    for row in days:
        async with conn.transaction():
            if await conn.fetchval("SELECT analytics_order_partition($1)", row["day"]):
                ordered.append(row["day"])
    if ordered:
        logger.info("ordered %d raw partitions by event type", len(ordered))
    return tuple(ordered)


async def _maintain_timescale(
    conn: asyncpg.Connection[Any],
    retention: dt.timedelta,
    compress_after: dt.timedelta,
    refresh: bool,
) -> MaintenanceReport:
    """The scheduler's work, in dependency order: aggregates first (from rows that
    retention may be about to drop), then retention, then compression."""
    with translate("maintenance: reading the clock"):
        now: dt.datetime = await conn.fetchval("SELECT now()")
    ranges: tuple[tuple[dt.datetime, dt.datetime], ...] = ()
    if refresh:
        with translate("maintenance: refreshing continuous aggregates"):
            refreshed = await refresh_caggs(conn, None, floor_day(now) + _DAY)
            await refresh_weekly_timescale(conn, None, None, now)
        with translate("maintenance: refreshing the active-users rollup"):
            lo = await _active_users_dirty_from(conn, floor_day(now - REFRESH_WINDOW))
            await _refresh_active_users(conn, lo, floor_day(now) + _DAY)
        with translate("maintenance: refreshing the distribution rollups"):
            lo = await _distributions_dirty_from(conn, floor_day(now - REFRESH_WINDOW))
            await _refresh_distributions(conn, lo, floor_day(now) + _DAY)
        ranges = (refreshed,) if refreshed else ()
    with translate("maintenance: applying retention (drop_chunks)"):
        dropped = await drop_old_chunks(conn, now - retention)
    with translate("maintenance: compressing chunks"):
        compressed = await compress_chunks(conn, older_than=now - compress_after)
    return MaintenanceReport(
        tier=SchemaTier.TIMESCALE,
        refreshed_ranges=ranges,
        chunks_compressed=compressed,
        chunks_dropped=dropped,
    )


async def _distributions_dirty_from(
    conn: asyncpg.Connection[Any], recent: dt.datetime
) -> dt.datetime:
    """The first day whose distribution rollups disagree with the count aggregates just
    refreshed (requests per day; task durations per day), or ``recent``, whichever is
    earlier. The continuous aggregates know their invalidations; these plain tables do
    not, so a scheduler that was off for a week is caught up here from where they stop,
    without rescanning all raw history on every run."""
    if not await conn.fetchval(
        "SELECT to_regclass('analytics_api_day_total') IS NOT NULL"
        " AND to_regclass('analytics_task_durations_daily') IS NOT NULL"
    ):
        return recent
    first: dt.datetime | None = await conn.fetchval(
        """
        WITH api AS (SELECT day, sum(requests) AS n FROM analytics_api_latency_daily GROUP BY day)
        SELECT min(day) FROM (
            SELECT api.day FROM api
            LEFT JOIN analytics_api_day_total t ON t.bucket = api.day
            WHERE t.requests IS DISTINCT FROM api.n
            UNION ALL
            SELECT t.bucket FROM analytics_api_day_total t
            LEFT JOIN api ON api.day = t.bucket WHERE api.n IS NULL
            UNION ALL
            SELECT s.day FROM analytics_task_stats_daily s
            LEFT JOIN analytics_task_durations_daily d ON d.day = s.day
            WHERE coalesce(d.duration_count, 0) <> s.duration_count
        ) AS dirty
        """
    )
    return recent if first is None else min(first, recent)


async def _active_users_dirty_from(
    conn: asyncpg.Connection[Any], recent: dt.datetime
) -> dt.datetime:
    """The first day whose precomputed DAU disagrees with its source (a backfill or an
    erasure changed it), or ``recent``, whichever is earlier: the rollup is recomputed
    from there. Days whose user set changed but not its size are caught only inside
    the regular window; ``refresh_aggregates(start=...)`` recomputes any range."""
    first: dt.datetime | None = await conn.fetchval(
        f"""
        SELECT min(day) FROM (
            SELECT d.day FROM (SELECT day, count(*) AS n FROM {DAILY_ACTIVE_USERS} GROUP BY day) d
            LEFT JOIN {ACTIVE_USERS_TABLE} a ON a.day = d.day
            WHERE a.dau IS DISTINCT FROM d.n
            UNION ALL
            SELECT a.day FROM {ACTIVE_USERS_TABLE} a
            WHERE a.dau > 0
              AND NOT EXISTS (SELECT 1 FROM {DAILY_ACTIVE_USERS} d WHERE d.day = a.day)
        ) dirty
        """
    )
    return recent if first is None else min(first, recent)


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
    *,
    window: bool = True,
) -> tuple[tuple[dt.datetime, dt.datetime], ...]:
    """Recompute the invalidated days plus ``[start, end)`` (without bounds: the
    regular window, unless ``window=False``, the maintainer's frequent refresh of only
    the days that received rows since the last refresh)."""
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
            if window:  # (the frequent refresh recomputes the invalidated days only)
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
        for r_lo, r_hi in merge_ranges(ranges):
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
        full = not (start is None and end is None and not window)
        await refresh_weekly_partitioned(conn, tuple(merged), now, full=full)
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


async def refresh_aggregates(
    pool_or_conn: Connectable, start: dt.datetime | None = None, end: dt.datetime | None = None
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
    async with acquire(pool_or_conn, step="aggregate refresh: connecting") as conn:
        with translate("aggregate refresh: reading the schema tier"):
            tier = await recorded_tier(conn)
            now: dt.datetime = await conn.fetchval("SELECT now()")
        async with advisory_lock(conn, MAINTENANCE_LOCK_KEY, step="aggregate refresh"):
            with translate("aggregate refresh"):
                if tier is SchemaTier.PARTITIONED:
                    ranges = await _refresh_partitioned(conn, now, start, end)
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
    # Never below the oldest raw chunk: buckets there would be recomputed from nothing
    # and their history erased (refresh_caggs clamps).
    refreshed = await refresh_caggs(conn, lo, hi)
    if refreshed is None:
        return MaintenanceReport(tier=SchemaTier.TIMESCALE)
    await refresh_weekly_timescale(conn, *refreshed, now)
    await _refresh_active_users(conn, *refreshed)
    await _refresh_distributions(conn, *refreshed)
    return MaintenanceReport(tier=SchemaTier.TIMESCALE, refreshed_ranges=(refreshed,))
