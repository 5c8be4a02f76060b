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

import asyncpg
import bench_queries
from _common import with_database

import lib_analytics_core as lac
from lib_analytics_core.schema.facts import DAILY_ACTIVE_USERS, ORDER_AFTER

_DAY = dt.timedelta(days=1)


async def exists(admin: str, name: str) -> bool:
    conn = await asyncpg.connect(admin)
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await conn.close()


async def load(admin: str, name: str, events: int, users: int) -> dict[str, Any]:
    """Create database ``name`` (migrated; TimescaleDB when the server has it), load
    ``events`` over the 91 days up to tomorrow 00:00 UTC, index, vacuum, compress."""
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = with_database(admin, name)
    conn = await asyncpg.connect(url)
    try:
        # Preloaded, not merely installed: CREATE EXTENSION fails on a server that has
        # the files but does not load the library at start.
        if await conn.fetchval(
            "SELECT current_setting('shared_preload_libraries') LIKE '%timescaledb%'"
        ):
            await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        await lac.migrate(conn)
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
    conn = await asyncpg.connect(url)
    try:
        t_vac = time.perf_counter()
        await conn.execute("VACUUM ANALYZE analytics_events")
        t_idx = time.perf_counter()
        if timescale:
            await conn.execute(
                "SELECT compress_chunk(c, if_not_compressed => true) FROM show_chunks("
                "'analytics_events', older_than => now() - interval '7 days') c"
            )
            await conn.execute("ANALYZE analytics_events")
        t_cmp = time.perf_counter()
    finally:
        await conn.close()
    await refresh_active_days(url, hi - 91 * _DAY, hi)
    t_roll = time.perf_counter()
    ordered = await order_days(url)
    t_ord = time.perf_counter()
    return {
        "database": name,
        "timescale": timescale,
        "rows_total": loaded["rows_total"],
        "users": users,
        "load_s": loaded["load_s"],
        "index_vacuum_s": round(loaded["index_s"] + t_idx - t_vac, 1),
        "compress_s": round(t_cmp - t_idx, 1),
        "active_days_refresh_s": round(t_roll - t_cmp, 1),
        "ordered_days": ordered,
        "order_s": round(t_ord - t_roll, 1),
    }


async def order_days(url: str) -> int:
    """On the partitioned tier, order every finished day's partition by event type
    (migration 0013), as the maintainer does ``ORDER_PER_RUN`` days per run for days
    older than ``ORDER_AFTER``: the steady state of a database it has kept, where a
    question over a few event types reads their pages only. Returns the days ordered
    (0 on the timescale tier, where compression segments by event type instead)."""
    conn = await asyncpg.connect(url)
    try:
        if await conn.fetchval("SELECT to_regproc('analytics_order_partition') IS NULL"):
            return 0
        now: dt.datetime = await conn.fetchval("SELECT now()")
        days = await conn.fetch(
            "SELECT to_date(right(c.relname, 8), 'YYYYMMDD')::timestamp AT TIME ZONE 'UTC' AS day"
            " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'analytics_events'::regclass"
            " AND c.relname ~ '^analytics_events_p[0-9]{8}$'"
        )
        n = 0
        for r in days:
            if r["day"] + _DAY <= now - ORDER_AFTER:
                n += bool(await conn.fetchval("SELECT analytics_order_partition($1)", r["day"]))
        await conn.execute("VACUUM ANALYZE analytics_events")
        return n
    finally:
        await conn.close()


async def refresh_active_days(url: str, lo: dt.datetime, hi: dt.datetime) -> None:
    """Bring the per-user daily rollup (``DAILY_ACTIVE_USERS``, which retention with "any
    event" reads, ``read/_active_days.py``) to where a maintainer tick would: on the
    partitioned tier its own refresh statement over the range and the invalidation log
    consumed with it, in one transaction (``maintenance._refresh_partitioned`` for this
    one aggregate); on TimescaleDB ``refresh_continuous_aggregate``. Only this one: the
    other aggregates are not read here, and refreshing all of them at 10M takes half an
    hour. (The other aggregates of this database are stale: it serves this benchmark.)"""
    conn = await asyncpg.connect(url)
    try:
        if await conn.fetchval("SELECT to_regclass('analytics_refresh_invalidations') IS NULL"):
            await conn.execute(
                "CALL refresh_continuous_aggregate($1::regclass, $2::timestamptz, $3::timestamptz)",
                DAILY_ACTIVE_USERS,
                lo,
                hi,
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
        await conn.execute(f"ANALYZE {DAILY_ACTIVE_USERS}")
    finally:
        await conn.close()
