"""Aggregate size, refresh time and the dashboard's questions at a larger volume, fast.

``python benchmarks/bench_read_scale.py --events 5000000``: the full benchmark 3 runs
every question's exact raw SQL several times, which at multi-million rows takes longer
than this shared 2-core machine allows; this loads the same generated events
(``bench_queries.load_raw``), then reports each aggregate's size against the raw table,
the refresh time of one day, every question's typed-query p50/p95 at 90 days, and the exact
raw SQL once for a few of them. Prints tables and a final JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import sys
import time
from typing import Any

import asyncpg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_queries
from _common import bench_database, database_url, summarize, table

RAW_ONCE = ("api_latency day x service", "api_latency total x endpoint", "task_stats")


async def run(admin: str, events: int) -> dict[str, Any]:
    async with bench_database(admin) as url:
        conn = await asyncpg.connect(url)
        try:
            now: dt.datetime = await conn.fetchval("SELECT now()")
        finally:
            await conn.close()
        end = now.replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
        info = await bench_queries.load_raw(url, events, end - dt.timedelta(days=91), end)
        size_text, sizes = await bench_queries.sizes(url)
        per_day = await bench_queries.refresh_per_day(url)
        conn = await asyncpg.connect(url)
        rows: list[list[object]] = []
        try:
            raw = await bench_queries._raw_sql(conn)
            start = end - dt.timedelta(days=90)
            for name, call, how in bench_queries._dashboard_queries():
                await call(conn, start, end)
                times = []
                for _ in range(10):
                    t0 = time.perf_counter()
                    await call(conn, start, end)
                    times.append((time.perf_counter() - t0) * 1000)
                s = summarize(times)
                raw_ms: object = ""
                if name in RAW_ONCE:
                    t0 = time.perf_counter()
                    for agg in how:
                        sql = agg.removeprefix("sql:") if agg.startswith("sql:") else raw[agg]
                        await conn.fetchval(f"SELECT count(*) FROM ({sql}) AS x", start, end)
                    raw_ms = round((time.perf_counter() - t0) * 1000, 1)
                rows.append([name, round(s.p50, 2), round(s.p95, 2), raw_ms])
        finally:
            await conn.close()
    print(size_text)
    print(f"\nload: {info}\nrefresh of one day: {per_day:.2f} s\n")
    print(
        table(
            f"Questions over 90 days at {info['rows_total']:,} raw events (10 runs each)",
            ["query", "p50 ms", "p95 ms", "raw once ms"],
            rows,
        )
    )
    return {**sizes, "refresh_s_per_day": round(per_day, 2), "load": info}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--database-url")
    p.add_argument("--events", type=int, default=5_000_000)
    args = p.parse_args()
    print(json.dumps(asyncio.run(run(database_url(args.database_url), args.events))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
