"""What the benchmarks measure of storage and refresh, on either schema tier.

The two tiers keep their data in different places, and a benchmark that reads the
partitioned tier's catalog on a TimescaleDB divides by zero (issue 29):

* the raw events: a declaratively partitioned table (``pg_partition_tree``) or a
  hypertable, whose parent relation is empty and whose chunks (compressed or not) live
  in ``_timescaledb_internal`` (``hypertable_size``);
* the aggregates: plain tables on the partitioned tier; on TimescaleDB continuous
  aggregates (views over materialized hypertables, ``timescaledb_information.
  continuous_aggregates``) beside a few plain tables (active users, the distribution
  rollups), some of which may be hypertables themselves;
* a refresh: the partitioned tier recomputes a day whenever asked; a continuous
  aggregate skips a range with no invalidations, so the cost of refreshing a day is
  measured with ``force => true`` (the work a policy does after that day's writes).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import asyncpg
from _common import table

from lib_analytics_core.schema.facts import AGGREGATES, COMPRESS_AFTER
from lib_analytics_core.schema.maintenance import maintain, refresh_aggregates
from lib_analytics_core.schema.server import SchemaTier, recorded_tier
from lib_analytics_core.schema.timescale import compress_chunks

#: Bookkeeping tables of either tier: not aggregates.
_NOT_AGGREGATES = (
    "analytics_dead_letters",
    "analytics_schema_migrations",
    "analytics_aggregate_refresh",
    "analytics_maintenance_state",
    "analytics_refresh_invalidations",
    "analytics_ordered_days",
)

#: Plain tables named analytics_* in the current schema, with their size: a hypertable's
#: through hypertable_size (its parent is empty), anything else pg_total_relation_size.
_TABLES_SQL = """
SELECT c.relname::text AS name,
       {size} AS bytes,
       c.reltuples::bigint AS n
FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace
WHERE ns.nspname = current_schema() AND c.relkind = 'r'
  AND c.relname LIKE 'analytics\\_%' AND c.relname NOT LIKE 'analytics_events%'
  AND c.relname NOT LIKE '%\\_v0002' AND NOT (c.relname = ANY($1::text[]))
"""

_PLAIN_SIZE = "pg_total_relation_size(c.oid)"
_TS_SIZE = """CASE WHEN EXISTS (
           SELECT 1 FROM timescaledb_information.hypertables h
           WHERE h.hypertable_schema = ns.nspname AND h.hypertable_name = c.relname)
       THEN hypertable_size(c.oid) ELSE pg_total_relation_size(c.oid) END"""

#: Continuous aggregates: the materialized hypertable's size and approximate rows.
_CAGGS_SQL = """
SELECT view_name::text AS name,
       hypertable_size(format('%I.%I', materialization_hypertable_schema,
                              materialization_hypertable_name)::regclass) AS bytes,
       approximate_row_count(format('%I.%I', materialization_hypertable_schema,
                                    materialization_hypertable_name)::regclass) AS n
FROM timescaledb_information.continuous_aggregates
WHERE view_schema = current_schema() AND view_name NOT LIKE '%\\_v0002'
"""


async def tier(conn: asyncpg.Connection[Any]) -> SchemaTier:
    return await recorded_tier(conn)


async def raw_bytes(conn: asyncpg.Connection[Any]) -> int:
    """The events table with its indexes and TOAST (compressed chunks included)."""
    if await tier(conn) is SchemaTier.TIMESCALE:
        return int(await conn.fetchval("SELECT hypertable_size('analytics_events')") or 0)
    return int(
        await conn.fetchval(
            "SELECT coalesce(sum(pg_total_relation_size(relid)), 0)"
            " FROM pg_partition_tree('analytics_events')"
        )
    )


async def _compression(conn: asyncpg.Connection[Any]) -> dict[str, Any]:
    """The raw hypertable's compression (TimescaleDB), as its own stats report it."""
    r = await conn.fetchrow(
        "SELECT total_chunks, number_compressed_chunks,"
        " before_compression_total_bytes, after_compression_total_bytes"
        " FROM hypertable_compression_stats('analytics_events')"
    )
    if r is None or not r["number_compressed_chunks"]:
        return {"chunks": r["total_chunks"] if r else 0, "compressed_chunks": 0}
    before = int(r["before_compression_total_bytes"])
    after = int(r["after_compression_total_bytes"])
    return {
        "chunks": r["total_chunks"],
        "compressed_chunks": r["number_compressed_chunks"],
        "compressed_before_bytes": before,
        "compressed_after_bytes": after,
        "compression_ratio": round(before / after, 1) if after else None,
    }


async def sizes(url: str) -> tuple[str, dict[str, Any]]:
    """Each aggregate's size (table + indexes + TOAST) against the raw table's, on
    either tier: a table, with the figures as a dict (``aggregate_bytes``,
    ``raw_bytes``, ``aggregates_pct_of_raw``, ``tier``; on TimescaleDB also the raw
    hypertable's ``compression``)."""
    conn = await asyncpg.connect(url)
    try:
        return await sizes_of(conn)
    finally:
        await conn.close()


async def sizes_of(conn: asyncpg.Connection[Any]) -> tuple[str, dict[str, Any]]:
    """:func:`sizes` on an open connection."""
    which = await tier(conn)
    ts = which is SchemaTier.TIMESCALE
    raw = await raw_bytes(conn)
    rels = [
        (str(r["name"]), int(r["bytes"] or 0), int(r["n"] or 0))
        for r in await conn.fetch(
            _TABLES_SQL.format(size=_TS_SIZE if ts else _PLAIN_SIZE), list(_NOT_AGGREGATES)
        )
    ]
    extra: dict[str, Any] = {}
    if ts:
        rels += [
            (f"{r['name']} (continuous aggregate)", int(r["bytes"] or 0), int(r["n"] or 0))
            for r in await conn.fetch(_CAGGS_SQL)
        ]
        extra["compression"] = await _compression(conn)
    rels.sort(key=lambda r: -r[1])
    total = sum(b for _, b, _ in rels)

    def pct(b: int) -> str:
        return f"{100 * b / raw:.2f}" if raw else "n/a"

    rows: list[list[object]] = [[n, f"{b / 1e6:.2f}", k, pct(b)] for n, b, k in rels]
    rows.append(["all aggregates", f"{total / 1e6:.2f}", "", pct(total)])
    label = "raw analytics_events" + (" (hypertable, chunks as stored)" if ts else "")
    rows.append([label, f"{raw / 1e6:.2f}", "", "100"])
    text = table(
        f"Aggregate sizes, {which.value} tier (MB, with indexes)",
        ["relation", "MB", "rows", "% of raw"],
        rows,
    )
    if ts and extra["compression"].get("compressed_chunks"):
        c = extra["compression"]
        text += (
            f"\nraw compression: {c['compressed_chunks']} of {c['chunks']} chunks compressed,"
            f" {c['compressed_before_bytes'] / 1e6:.1f} MB ->"
            f" {c['compressed_after_bytes'] / 1e6:.1f} MB ({c['compression_ratio']}x)\n"
        )
    return text, {
        "tier": which.value,
        "aggregate_bytes": total,
        "raw_bytes": raw,
        "aggregates_pct_of_raw": round(100 * total / raw, 2) if raw else None,
        **extra,
    }


async def refresh_day(conn: asyncpg.Connection[Any], day: dt.datetime) -> None:
    """Recompute every aggregate for the day starting at ``day``, even unchanged.

    Partitioned tier: the library's own refresh of that day. TimescaleDB: a forced
    refresh of each continuous aggregate (a rollup after its source), then the plain
    tables the library refreshes itself (active users, distributions), as
    ``refresh_aggregates`` does after the continuous aggregates."""
    nxt = day + dt.timedelta(days=1)
    if await tier(conn) is not SchemaTier.TIMESCALE:
        await refresh_aggregates(conn, start=day, end=nxt)
        return
    for name in await _present_caggs(conn):
        await force_refresh(conn, name, day, nxt)
    await conn.execute("SELECT analytics_refresh_active_users($1, $2)", day, nxt)
    await conn.execute("SELECT analytics_refresh_distributions($1, $2)", day, nxt)


async def _present_caggs(conn: asyncpg.Connection[Any]) -> list[str]:
    present = {
        r["view_name"]
        for r in await conn.fetch(
            "SELECT view_name::text FROM timescaledb_information.continuous_aggregates"
            " WHERE view_schema = current_schema()"
        )
    }
    return [n for n in AGGREGATES if n in present]


async def force_refresh(
    conn: asyncpg.Connection[Any], name: str, lo: dt.datetime, hi: dt.datetime
) -> None:
    """Materialize ``[lo, hi)`` of continuous aggregate ``name`` again, invalidated or not."""
    await conn.execute(
        "CALL refresh_continuous_aggregate($1::regclass, $2::timestamptz, $3::timestamptz,"
        " force => true)",
        name,
        lo,
        hi,
    )


async def trend_refresh_costs(conn: asyncpg.Connection[Any], day: dt.datetime) -> dict[str, float]:
    """Seconds to recompute one day of each event-trend aggregate (migration 0008), on
    either tier: its refresh SQL (partitioned) or a forced refresh (TimescaleDB)."""
    nxt = day + dt.timedelta(days=1)
    out: dict[str, float] = {}
    if await tier(conn) is SchemaTier.TIMESCALE:
        for name in await _present_caggs(conn):
            if name.startswith("analytics_event_trends_"):
                t0 = time.perf_counter()
                await force_refresh(conn, name, day, nxt)
                out[name] = round(time.perf_counter() - t0, 2)
        return out
    for r in await conn.fetch(
        "SELECT name, refresh_sql FROM analytics_aggregate_refresh"
        " WHERE name LIKE 'analytics_event_trends_%' ORDER BY position"
    ):
        t0 = time.perf_counter()
        async with conn.transaction():
            await conn.execute(
                f'DELETE FROM "{r["name"]}" WHERE bucket >= $1 AND bucket < $2', day, nxt
            )
            await conn.execute(f'INSERT INTO "{r["name"]}" {r["refresh_sql"]}', day, nxt)
        out[r["name"]] = round(time.perf_counter() - t0, 2)
    return out


#: A raw retention that keeps a loaded benchmark database whole when ``maintain()``
#: runs on it (its generators fill up to 91 days).
_KEEP_ALL = dt.timedelta(days=3650)


async def as_shipped(url: str) -> dict[str, Any]:
    """Bring a freshly loaded database to the storage layout the shipped maintenance
    would have given it by now: compressed chunks past the horizon (timescale tier) or
    every finished day's partition ordered by event type (partitioned tier, migration
    0013). Idempotent; ``--prepare NAME`` runs it on a database loaded before."""
    conn = await asyncpg.connect(url)
    try:
        ts = await recorded_tier(conn) is SchemaTier.TIMESCALE
    finally:
        await conn.close()
    return await (_compress_as_shipped(url) if ts else _order_as_shipped(url))


async def _order_as_shipped(url: str) -> dict[str, Any]:
    """Order every finished day's partition by event type (migration 0013):
    ``maintain()`` without its refresh, run until it orders no more days (it orders
    ``ORDER_PER_RUN`` per run, as over a maintainer's runs), with a retention that keeps
    every loaded day."""
    t0 = time.perf_counter()
    n = 0
    conn = await asyncpg.connect(url)
    try:
        while ordered := (await maintain(conn, refresh=False, retention=_KEEP_ALL)).days_ordered:
            n += len(ordered)
    finally:
        await conn.close()
    return {"days_ordered": n, "order_s": round(time.perf_counter() - t0, 1)}


async def _compress_as_shipped(url: str) -> dict[str, Any]:
    """On the timescale tier, compress every chunk past the compression horizon, as the
    shipped policy (and ``maintain``) would have by now: the read side is measured on
    the layout production has, compressed chunks and all. Nothing on the partitioned
    tier."""
    conn = await asyncpg.connect(url)
    try:
        if await recorded_tier(conn) is not SchemaTier.TIMESCALE:
            return {}
        now: dt.datetime = await conn.fetchval("SELECT now()")
        before = int(await conn.fetchval("SELECT hypertable_size('analytics_events')"))
        t0 = time.perf_counter()
        done = await compress_chunks(conn, older_than=now - COMPRESS_AFTER)
        seconds = time.perf_counter() - t0
        await conn.execute("ANALYZE analytics_events")
        after = int(await conn.fetchval("SELECT hypertable_size('analytics_events')"))
    finally:
        await conn.close()
    return {
        "chunks_compressed": len(done),
        "compress_s": round(seconds, 1),
        "raw_mb_before_compression": round(before / 1e6, 1),
        "raw_mb_after_compression": round(after / 1e6, 1),
    }
