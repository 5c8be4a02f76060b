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

On a TimescaleDB the schema is the timescale tier: chunks past the compression horizon
are compressed after the load (as the shipped policy would have), sizes come from the
hypertables (``_tier``), and a day's refresh is a forced refresh of the continuous
aggregates.

The final JSON line carries ``query_p95_ms_max`` (the slowest question's p95), each
question's p95 (``queries``), the speed-ups against raw where raw ran, the load, and
issue 25's figures (``_explore_bench``): ``explore_p95_ms`` (the slowest explore with
more than 100,000 rows of its type in range), ``explore_small_p95_ms`` (100,000 or
fewer), ``timeline_p95_ms`` (a page of 100) and ``export_rows_per_s`` (a 100,000-row
CSV series streamed by ``analytics-api``), each beside the straightforward SQL in
``issue25``. ``--skip-issue25`` leaves them out, ``--issue25 --database NAME`` measures
only them.
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
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _explore_bench
import _read_history
import _tier
import bench_queries
from _common import (
    bench_database,
    create_migrated,
    database_url,
    summarize,
    table,
    with_database,
)

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
    added, each on its own: the event-trend aggregates (their refresh SQL, or a forced
    refresh of the continuous aggregates on TimescaleDB) and the running distributions
    (from that day on), beside 0004's distribution rollups. Ingest itself is unchanged
    (no trigger, no extra index on the raw table)."""
    conn = await asyncpg.connect(url)
    try:
        now: dt.datetime = await conn.fetchval("SELECT now()")
        day = now.replace(hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(days=1)
        nxt = day + dt.timedelta(days=1)
        out = await _tier.trend_refresh_costs(conn, day)
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


async def run_issue25(admin: str, reuse: str) -> dict[str, Any]:
    """Only issue 25's figures (explore, timeline, drill-down, export) on a loaded
    database: what ``--issue25`` runs, so they can be measured in a short locked run."""
    url = with_database(admin, reuse)
    conn = await asyncpg.connect(url)
    try:
        now: dt.datetime = await conn.fetchval("SELECT now()")
        total = int(await conn.fetchval("SELECT count(*) FROM analytics_events"))
        users = int(await conn.fetchval("SELECT count(DISTINCT user_id) FROM analytics_events"))
        raw_mb = round(await _tier.raw_bytes(conn) / 1e6, 1)
        which = (await _tier.tier(conn)).value
    finally:
        await conn.close()
    end = now.replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
    figures = await _issue25(url, end, f"{total:,} raw events, {users:,} users")
    return {"tier": which, "events": total, "users": users, "raw_mb": raw_mb, **figures}


async def _issue25(url: str, end: dt.datetime, what: str) -> dict[str, Any]:
    """Issue 25's figures (``_explore_bench.issue25``), printed as tables."""
    figures = await _explore_bench.issue25(url, end)
    print(
        table(
            f"Explore at {what} (library vs straightforward SQL)",
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
    return figures


async def run(
    admin: str,
    events: int,
    reuse: str | None,
    raw_mode: str,
    *,
    refresh_reps: int = 3,
    issue25: bool = True,
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
            info.update(await _tier.as_shipped(url))
            info["vacuum_s"] = round(await _vacuum(url), 1)
        size_text, sizes = await _tier.sizes(url)
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
            side = await _read_history.side_by_side(conn, start, end)
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
        figures = await _issue25(url, end, f"{info['rows_total']:,} raw events") if issue25 else {}
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
        **{k: v for k, v in figures.items() if k.endswith(("_ms", "_per_s"))},
        **({"issue25": figures} if figures else {}),
    }


async def load_into(admin: str, name: str, events: int, users: int) -> dict[str, Any]:
    """Create database ``name`` (migrated), load ``events`` over the last 91 days from
    ``users`` distinct users, vacuum, and keep it for ``--database name`` runs."""
    url = await create_migrated(admin, name)
    conn = await asyncpg.connect(url)
    try:
        now: dt.datetime = await conn.fetchval("SELECT now()")
    finally:
        await conn.close()
    end = now.replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
    info = await bench_queries.load_raw(url, events, end - dt.timedelta(days=91), end, users)
    info.update(await _tier.as_shipped(url))
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
    p.add_argument(
        "--skip-issue25",
        action="store_true",
        help="leave issue 25's figures out of a full run (they take a few minutes at 10M)",
    )
    p.add_argument(
        "--prepare",
        metavar="NAME",
        help="only bring loaded database NAME to the shipped layout (compressed chunks "
        "or ordered days, as --load-into does), then exit",
    )
    args = p.parse_args()
    if args.prepare:
        url = with_database(database_url(args.database_url), args.prepare)
        print(json.dumps(asyncio.run(_tier.as_shipped(url))))
        return 0
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
            database_url(args.database_url),
            args.events,
            args.database,
            raw_mode,
            refresh_reps=args.refresh_reps,
            issue25=not args.skip_issue25,
        )
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
