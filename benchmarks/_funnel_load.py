"""Loading the funnel benchmark's raw events (issue 26): the read-scale benchmark's
generator (``bench_queries._LOAD_SQL``: the demo's event mix, skewed users, 91 days),
then brought to the state a maintained database has, for what these questions read:

* the per-user daily rollup that "any event" retention reads is refreshed (only that
  one aggregate: the whole refresh of 10M rows takes half an hour here and measures
  nothing of these questions);
* on the partitioned tier every finished day is ordered by event type (migration
  0013), as the maintainer does for days older than ``ORDER_AFTER``;
* on the timescale tier the chunks older than ``COMPRESS_AFTER`` are compressed, as the
  compression policy would have done: the compressed tier is where a naive plan
  decompresses everything.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import _tier
import asyncpg
import bench_queries
from _common import create_migrated

from lib_analytics_core.schema.facts import DAILY_ACTIVE_USERS, WEEKLY_ACTIVE_USERS
from lib_analytics_core.schema.maintenance_weekly import refresh_weekly_partitioned

_DAY = dt.timedelta(days=1)


async def exists(admin: str, name: str) -> bool:
    conn = await asyncpg.connect(admin)
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await conn.close()


async def load(admin: str, name: str, events: int, users: int) -> dict[str, Any]:
    """Create database ``name`` (migrated; TimescaleDB when the server has it), load
    ``events`` over the 91 days up to tomorrow 00:00 UTC, bring it to the shipped
    layout (``_tier.as_shipped``), vacuum, refresh the per-user daily rollup."""
    url = await create_migrated(admin, name)
    conn = await asyncpg.connect(url)
    try:
        now: dt.datetime = await conn.fetchval("SELECT now()")
        timescale = bool(
            await conn.fetchval("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'")
        )
        hi = now.replace(hour=0, minute=0, second=0, microsecond=0) + _DAY
    finally:
        await conn.close()
    # The read-scale generator (partitions, indexes dropped and rebuilt around two
    # loaders), without the aggregates' refresh.
    loaded = await bench_queries.load_raw(url, events, hi - 91 * _DAY, hi, users, refresh=False)
    # The layout the shipped maintenance gives a database by now: chunks compressed
    # past the horizon, or finished days ordered by event type.
    shipped = await _tier.as_shipped(url)
    conn = await asyncpg.connect(url)
    try:
        t_vac = time.perf_counter()
        await conn.execute("VACUUM ANALYZE analytics_events")
        t_roll = time.perf_counter()
    finally:
        await conn.close()
    await refresh_active_days(url, hi - 91 * _DAY, hi)
    return {
        "database": name,
        "timescale": timescale,
        "rows_total": loaded["rows_total"],
        "users": users,
        "load_s": loaded["load_s"],
        "index_vacuum_s": round(loaded["index_s"] + t_roll - t_vac, 1),
        **shipped,
        "active_days_refresh_s": round(time.perf_counter() - t_roll, 1),
    }


async def refresh_active_days(url: str, lo: dt.datetime, hi: dt.datetime) -> None:
    """Bring the per-user daily rollup (``DAILY_ACTIVE_USERS``, which retention with "any
    event" reads, ``read/_active_days.py``) and the weekly one derived from it
    (``WEEKLY_ACTIVE_USERS``, migration 0020) to where a full refresh would: on the
    partitioned tier the daily one's own refresh statement over the range and the
    invalidation log consumed with it, then the weekly one's function, in one
    transaction (``maintenance._refresh_partitioned`` for these two); on TimescaleDB
    ``refresh_continuous_aggregate`` of each. Only these: the other aggregates are not
    read here, and refreshing all of them at 10M takes half an hour. (The other
    aggregates of this database are stale: it serves this benchmark.)"""
    conn = await asyncpg.connect(url)
    try:
        if await conn.fetchval("SELECT to_regclass('analytics_refresh_invalidations') IS NULL"):
            await conn.execute(
                "CALL refresh_continuous_aggregate($1::regclass, $2::timestamptz, $3::timestamptz)",
                DAILY_ACTIVE_USERS,
                lo,
                hi,
            )
            if await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", WEEKLY_ACTIVE_USERS):
                await conn.execute(
                    "CALL refresh_continuous_aggregate($1::regclass, NULL, NULL)",
                    WEEKLY_ACTIVE_USERS,
                )
            return
        sql = await conn.fetchval(
            "SELECT refresh_sql FROM analytics_aggregate_refresh WHERE name = $1",
            DAILY_ACTIVE_USERS,
        )
        async with conn.transaction():
            await conn.execute("DELETE FROM analytics_refresh_invalidations")
            await conn.execute(
                f"DELETE FROM {DAILY_ACTIVE_USERS} WHERE day >= $1 AND day < $2", lo, hi
            )
            await conn.execute(f"INSERT INTO {DAILY_ACTIVE_USERS} {sql}", lo, hi)
            now = await conn.fetchval("SELECT now()")
            await refresh_weekly_partitioned(conn, ((lo, hi),), now, full=True)
        await conn.execute(f"ANALYZE {DAILY_ACTIVE_USERS}")
        if await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", WEEKLY_ACTIVE_USERS):
            await conn.execute(f"ANALYZE {WEEKLY_ACTIVE_USERS}")
    finally:
        await conn.close()
