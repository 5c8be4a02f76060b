"""Aggregate size, refresh time and every dashboard/API question at a larger volume, fast.

``python benchmarks/bench_read_scale.py --events 10000000``: loads the generated events
server-side (``bench_queries.load_raw``: ``INSERT ... SELECT generate_series``, so 10M
rows take minutes, not hours), vacuums the aggregates (what autovacuum does in
production; it lets the covering indexes of migration 0007 serve index-only scans),
then reports each aggregate's size against the raw table, the refresh time of one day,
and every question's typed-query p50/p95 over 90 days (10 runs after a warm-up). The
exact raw SQL of the same question runs once per question (``--raw all``, the default
up to 2M events) or for a few (``--raw some``), for the speed-up.

``--database NAME`` reuses (and keeps) an already loaded database of that name on the
server instead of creating, loading and dropping one: the load is set-up, so a run can
measure the read side again after a change without paying it twice.

The final JSON line carries ``query_p95_ms_max`` (the slowest question's p95), each
question's p95 (``queries``), the speed-ups against raw where raw ran, and the load.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg

import lib_analytics_core as lac
from lib_analytics_core.read import latency as lat
from lib_analytics_core.read._common import epoch_sql

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _explore_bench
import bench_queries
from _common import bench_database, database_url, summarize, table, with_database

RAW_SOME = (
    "api_latency day x service",
    "api_latency total x endpoint",
    "task_stats",
    "top_endpoints (by p95)",
    "event_trends day",
)


@contextlib.asynccontextmanager
async def _database(admin: str, name: str | None) -> AsyncIterator[tuple[str, bool]]:
    """(url, needs loading): a reused database as is, else a fresh one dropped after."""
    if name is None:
        async with bench_database(admin) as url:
            yield url, True
        return
    yield with_database(admin, name), False


async def _vacuum(url: str) -> float:
    conn = await asyncpg.connect(url)
    try:
        t0 = time.perf_counter()
        names = await conn.fetch(
            "SELECT relname FROM pg_class WHERE relkind IN ('r', 'm')"
            " AND relname LIKE 'analytics\\_%' AND relname NOT LIKE 'analytics_events%'"
        )
        for r in names:
            await conn.execute(f'VACUUM ANALYZE "{r["relname"]}"')
        return time.perf_counter() - t0
    finally:
        await conn.close()


async def _refresh_costs(url: str) -> dict[str, float]:
    """Seconds to recompute one full day (yesterday) of what migrations 0007 and 0008
    added, each on its own: the event-trend aggregates (their refresh SQL) and the
    running distributions (from that day on), beside 0004's distribution rollups. On the
    partitioned tier this is the added maintenance cost; ingest itself is unchanged (no
    trigger, no extra index on the raw table)."""
    conn = await asyncpg.connect(url)
    out: dict[str, float] = {}
    try:
        now: dt.datetime = await conn.fetchval("SELECT now()")
        day = now.replace(hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(days=1)
        nxt = day + dt.timedelta(days=1)
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
        for label, sql in (
            ("distributions_0004", "SELECT analytics_refresh_distributions_0004($1, $2)"),
            ("cumulative_0007_0009", "SELECT analytics_refresh_cumulative($1)"),
        ):
            t0 = time.perf_counter()
            await conn.execute(sql, *((day, nxt) if "0004" in label else (day,)))
            out[label] = round(time.perf_counter() - t0, 2)
    finally:
        await conn.close()
    return out


def _total_sql_0007(level: str, dims: tuple[str, ...], where: list[str], edges: str | None) -> str:
    """The read of a latency total before migration 0009, kept for the side-by-side run:
    counts and maxima summed from every daily rollup row of the range (a ``GROUP BY``
    over 18,200 rows at 200 endpoints x 91 days), the running histograms of 0007 at its
    ends."""
    dim_list = ", ".join(dims)
    sel = f"{dim_list}, " if dims else ""
    filt = "".join(f" AND {w}" for w in where)
    cols = (
        "requests, requests_estimated, errors_4xx, errors_5xx, duration_count, "
        "duration_sum_ms, duration_max_ms"
    )
    parts = [
        f"SELECT {sel}{cols} FROM analytics_api_day_{level}"
        f" WHERE bucket >= $1 AND bucket < $2{filt}"
    ]
    if edges:
        parts.append(f"SELECT {sel}{cols} FROM analytics_api_hour_{level} WHERE {edges}{filt}")
    join = " AND ".join(f"t.{d} = c.{d}" for d in dims) or "TRUE"
    group = f"GROUP BY {dim_list}" if dims else "HAVING count(*) > 0"
    order = f"ORDER BY {dim_list}" if dims else ""
    return f"""
WITH c AS (
    SELECT {sel}{lat._COUNT_COLUMNS}
    FROM ({" UNION ALL ".join(parts)}) AS x
    {group}
)
SELECT c.*, h.hist_keys AS hk, h.hist_cum AS hc, l.hist_keys AS lk, l.hist_cum AS lc
FROM c
LEFT JOIN LATERAL (
    SELECT hist_keys, hist_cum FROM analytics_cum_api_{level} t
    WHERE {join} AND t.bucket < $2 ORDER BY t.bucket DESC LIMIT 1
) h ON $1 < $2
LEFT JOIN LATERAL (
    SELECT hist_keys, hist_cum FROM analytics_cum_api_{level} t
    WHERE {join} AND t.bucket < $1 ORDER BY t.bucket DESC LIMIT 1
) l ON $1 < $2
{order}
"""


async def _side_by_side(conn: Any, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    """This issue's read-path changes against the code they replaced, runs interleaved
    in one process (so a busy machine slows both alike), 90 days, p50/p95 ms of 10.

    * total x endpoint: running distributions (0007) vs merging one daily histogram per
      endpoint and day in Python (the previous ``_merge_latency`` path);
    * hour x service: values computed in SQL and rows built by ``fast_rows`` vs the
      stored keys decoded in Python and the frozen dataclass ``__init__``;
    * total x endpoint and top_endpoints, 0009 vs 0007: counts and maximum from three
      probes of the running rows per endpoint vs summed from every daily row
      (``_total_sql_0007``, swapped in for the "before" runs);
    * hour x endpoint (100,000 rows): buckets decoded as ``timestamptz``, rows capped
      and built in Python with the collector running vs buckets as epoch seconds
      (``_common.epoch_sql``) and ``_common.build_rows`` of rows capped in SQL.
    """
    from lib_analytics_core.read import histogram as hist
    from lib_analytics_core.read import latency as lat

    async def old_total() -> None:
        rows = await conn.fetch(
            "SELECT NULL::timestamptz AS bucket, service, endpoint, method, requests,"
            " requests_estimated, errors_4xx, errors_5xx, duration_count, duration_sum_ms,"
            " duration_max_ms, hist_keys, hist_counts FROM analytics_api_day_endpoint"
            " WHERE bucket >= $1 AND bucket < $2 ORDER BY service, endpoint, method",
            start,
            end,
        )
        lat._merge_latency(rows, ["service", "endpoint", "method"], 100_000)

    async def new_total() -> None:
        await lat.api_latency(
            conn, start=start, end=end, granularity="total", group_by="endpoint", limit=100_000
        )

    async def old_series() -> None:
        rows = await conn.fetch(
            "SELECT bucket, service, NULL::text AS endpoint, NULL::text AS method, requests,"
            " requests_estimated, errors_4xx, errors_5xx, duration_count, duration_sum_ms,"
            " duration_max_ms, p50_key, p95_key, p99_key FROM analytics_api_hour_service"
            " WHERE bucket >= $1 AND bucket < $2 ORDER BY bucket, service",
            start,
            end,
        )
        rep = hist.representative
        for r in rows:
            (b, sv, ep, m, req, est, e4, e5, n, dsum, dmax, k50, k95, k99) = r
            lat.ApiLatencyRow(
                bucket=b, service=sv, endpoint=ep, method=m, requests=req,
                requests_estimated=est, errors_4xx=e4, errors_5xx=e5,
                error_rate=(e4 + e5) / req if req else None, avg_ms=dsum / n if n else None,
                p50_ms=None if k50 is None else rep(k50),
                p95_ms=None if k95 is None else rep(k95),
                p99_ms=None if k99 is None else rep(k99),
                max_ms=None if dmax is None else round(dmax),
            )  # fmt: skip

    async def new_series() -> None:
        await lat.api_latency(
            conn, start=start, end=end, granularity="hour", group_by="service", limit=100_000
        )

    async def with_0007(call: Callable[[], Awaitable[object]]) -> None:
        current = lat._total_sql
        lat._total_sql = _total_sql_0007
        try:
            await call()
        finally:
            lat._total_sql = current

    async def total_0007() -> None:
        await with_0007(new_total)

    async def top() -> None:
        await lac.top_endpoints(conn, start, end)

    async def top_0007() -> None:
        await with_0007(top)

    hour_endpoint_sql = lat._latency_sql(
        "analytics_api_hour_endpoint",
        group_cols=["bucket", "service", "endpoint", "method"],
        where=["bucket >= $1", "bucket < $2"],
        precomputed=True,
        limit_arg=3,
    ).replace(epoch_sql("bucket"), "bucket", 1)

    async def old_hour_endpoint() -> None:
        # the rows as before build_rows/_capped_sql/epoch_sql: the bucket decoded as a
        # timestamptz, capped in Python, collector on (the SQL's own cap is
        # idempotent: the same values either way)
        make = lat._make_row
        _ = [make(*r) for r in await conn.fetch(hour_endpoint_sql, start, end, 100_000)]

    async def new_hour_endpoint() -> None:
        await lat.api_latency(
            conn, start=start, end=end, granularity="hour", group_by="endpoint", limit=100_000
        )

    out: dict[str, Any] = {}
    for name, old, new in (
        ("hour x endpoint, rows before vs after", old_hour_endpoint, new_hour_endpoint),
        ("total x endpoint", old_total, new_total),
        ("hour x service", old_series, new_series),
        ("total x endpoint, 0007 counts vs 0009", total_0007, new_total),
        ("top_endpoints, 0007 counts vs 0009", top_0007, top),
    ):
        await old()
        await new()
        t_old: list[float] = []
        t_new: list[float] = []
        for _ in range(10):
            for fn, acc in ((old, t_old), (new, t_new)):
                t0 = time.perf_counter()
                await fn()
                acc.append((time.perf_counter() - t0) * 1000)
        so, sn = summarize(t_old), summarize(t_new)
        out[name] = {
            "before_p50_ms": round(so.p50, 1),
            "before_p95_ms": round(so.p95, 1),
            "after_p50_ms": round(sn.p50, 1),
            "after_p95_ms": round(sn.p95, 1),
        }
    return out


async def run_issue25(admin: str, reuse: str) -> dict[str, Any]:
    """Only issue 25's figures (explore, timeline, drill-down, export) on a loaded
    database: what ``--issue25`` runs, so they can be measured in a short locked run."""
    url = with_database(admin, reuse)
    conn = await asyncpg.connect(url)
    try:
        now: dt.datetime = await conn.fetchval("SELECT now()")
        total = int(await conn.fetchval("SELECT count(*) FROM analytics_events"))
        users = int(await conn.fetchval("SELECT count(DISTINCT user_id) FROM analytics_events"))
        size = await conn.fetchval(
            "SELECT pg_size_pretty(pg_total_relation_size('analytics_events'))"
            " || ' (' || (SELECT pg_size_pretty(sum(pg_relation_size(i.indexrelid)))"
            " FROM pg_inherits h JOIN pg_index i ON i.indrelid = h.inhrelid"
            " WHERE h.inhparent = 'analytics_events'::regclass) || ' of indexes)'"
        )
    finally:
        await conn.close()
    end = now.replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
    figures = await _explore_bench.issue25(url, end)
    print(
        table(
            f"Explore at {total:,} raw events, {users:,} users (library vs straightforward SQL)",
            ["question", "rows in range", "p50 ms", "p95 ms", "raw p50 ms", "raw p95 ms"],
            [
                [k, v["rows_in_range"], v["p50_ms"], v["p95_ms"], v["raw_p50_ms"], v["raw_p95_ms"]]
                for k, v in figures["explore"].items()
            ],
        )
    )
    print(
        table(
            "Drill-down and hour x endpoint, 7 days",
            ["question", "p50 ms", "p95 ms", "raw p50 ms", "raw p95 ms", "raw/lib p50"],
            [[k, *v.values()] for k, v in figures["drilldown"].items()],
        )
    )
    print(f"timeline: {figures['timeline']}")
    print(f"export: {figures['export']}")
    return {"events": total, "users": users, "events_table": size, **figures}


async def run(
    admin: str, events: int, reuse: str | None, raw_mode: str, refresh_reps: int = 3
) -> dict[str, Any]:
    async with _database(admin, reuse) as (url, fresh):
        conn = await asyncpg.connect(url)
        try:
            now: dt.datetime = await conn.fetchval("SELECT now()")
        finally:
            await conn.close()
        end = now.replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
        info: dict[str, Any] = {"reused_database": reuse}
        if fresh:
            info.update(await bench_queries.load_raw(url, events, end - dt.timedelta(days=91), end))
            info["vacuum_s"] = round(await _vacuum(url), 1)
        size_text, sizes = await bench_queries.sizes(url)
        per_day = await bench_queries.refresh_per_day(url, reps=refresh_reps)
        costs = await _refresh_costs(url)
        await _vacuum(url)  # the refresh just rewrote a day of every aggregate
        conn = await asyncpg.connect(url)
        rows: list[list[object]] = []
        per_query: dict[str, Any] = {}
        try:
            info["rows_total"] = int(await conn.fetchval("SELECT count(*) FROM analytics_events"))
            raw = await bench_queries._raw_sql(conn)
            start = end - dt.timedelta(days=90)
            side = await _side_by_side(conn, start, end)
            for name, call, how in bench_queries._dashboard_queries():
                await call(conn, start, end)
                times = []
                for _ in range(10):
                    t0 = time.perf_counter()
                    await call(conn, start, end)
                    times.append((time.perf_counter() - t0) * 1000)
                s = summarize(times)
                raw_ms: float | None = None
                if raw_mode == "all" or name in RAW_SOME:
                    t0 = time.perf_counter()
                    for agg in how:
                        if agg == "analytics_api_latency_daily":
                            continue
                        sql = agg.removeprefix("sql:") if agg.startswith("sql:") else raw[agg]
                        lo = (
                            start - dt.timedelta(days=29)
                            if agg == "analytics_daily_active_users"
                            else start
                        )
                        await conn.fetchval(f"SELECT count(*) FROM ({sql}) AS x", lo, end)
                    raw_ms = round((time.perf_counter() - t0) * 1000, 1)
                speed = round(raw_ms / s.p50, 1) if raw_ms else None
                rows.append([name, round(s.p50, 2), round(s.p95, 2), raw_ms or "", speed or ""])
                per_query[name] = {"p50_ms": round(s.p50, 2), "p95_ms": round(s.p95, 2)}
                if raw_ms is not None:
                    per_query[name].update(raw_ms=raw_ms, speedup=speed)
        finally:
            await conn.close()
    print(size_text)
    print(f"\nload: {info}\nrefresh of one day: {per_day:.2f} s; of which {costs}\n")
    print(
        table(
            f"Questions over 90 days at {info['rows_total']:,} raw events (10 runs each)",
            ["query", "p50 ms", "p95 ms", "raw once ms", "speed-up (raw / p50)"],
            rows,
        )
    )
    print(
        table(
            "This issue's read paths against the code they replaced (interleaved, 90 days)",
            ["question", "before p50", "before p95", "after p50", "after p95"],
            [[k, *v.values()] for k, v in side.items()],
        )
    )
    p95s = [v["p95_ms"] for v in per_query.values()]
    speedups = [v["speedup"] for v in per_query.values() if v.get("speedup")]
    return {
        "events": info["rows_total"],
        "query_p95_ms_max": max(p95s),
        "query_speedup_vs_raw_min": min(speedups) if speedups else None,
        "queries": per_query,
        "side_by_side": side,
        **sizes,
        "refresh_s_per_day": round(per_day, 2),
        "refresh_one_day_s": costs,
        "load": info,
    }


async def load_into(admin: str, name: str, events: int, users: int) -> dict[str, Any]:
    """Create database ``name`` (migrated), load ``events`` over the last 91 days from
    ``users`` distinct users, vacuum, and keep it for ``--database name`` runs."""
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = with_database(admin, name)
    conn = await asyncpg.connect(url)
    try:
        await lac.migrate(conn)
        now: dt.datetime = await conn.fetchval("SELECT now()")
    finally:
        await conn.close()
    end = now.replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
    info = await bench_queries.load_raw(url, events, end - dt.timedelta(days=91), end, users)
    info["vacuum_s"] = round(await _vacuum(url), 1)
    return {"database": name, "users": users, **info}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument(
        "--load-into", metavar="NAME", help="only create and load database NAME (kept), then exit"
    )
    p.add_argument(
        "--users",
        type=int,
        default=100_000,
        help="distinct user ids of the generated events (issue 25: 100,000)",
    )
    p.add_argument("--database-url", help="admin DSN of the server (default: local)")
    p.add_argument("--events", type=int, default=5_000_000)
    p.add_argument("--database", help="reuse this already loaded database (kept)")
    p.add_argument("--raw", choices=("all", "some"), help="raw SQL for every question or a few")
    p.add_argument("--refresh-reps", type=int, default=3, help="runs of the one-day refresh")
    p.add_argument(
        "--issue25",
        action="store_true",
        help="only issue 25's figures (explore, timeline, drill-down, CSV export); "
        "needs --database",
    )
    args = p.parse_args()
    if args.issue25:
        if not args.database:
            p.error("--issue25 needs --database NAME (a loaded database)")
        figures = asyncio.run(run_issue25(database_url(args.database_url), args.database))
        print(json.dumps(figures))
        return 0
    if args.load_into:
        loaded = asyncio.run(
            load_into(database_url(args.database_url), args.load_into, args.events, args.users)
        )
        print(json.dumps(loaded))
        return 0
    raw_mode = args.raw or ("all" if args.events <= 2_000_000 else "some")
    result = asyncio.run(
        run(
            database_url(args.database_url), args.events, args.database, raw_mode, args.refresh_reps
        )
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
