"""A user's timeline against the compressed layout (migration 0019), with the questions
that rely on the layout measured in the same run.

``python benchmarks/bench_timeline_layout.py --database NAME [--database-url URL]
[--rounds 3]`` on a loaded TimescaleDB database (``bench_read_scale.py``'s generated
events). Each round measures, in this order:

* the timeline: ``_explore_bench.timeline_figures`` (pages of 100 for 9 users from the
  heaviest to the lightest, 6 runs each; the figure ``bench_read_scale.py --issue25``
  reports as ``timeline_p95_ms``);
* explore over one event type on compressed days (the library's calls of
  ``_explore_bench``'s cases, 3 runs after a warm-up, p50);
* funnels (``bench_funnels``' 3-step 7 and 30 days and 5-step 30 days, 3 runs, p50);
* a late redelivery: 200 rows that exist in one compressed chunk inserted again with
  ``ON CONFLICT DO NOTHING`` (what the writer does), rolled back: ms per row;

then the compressed chunks' sizes and ratio once. The final JSON line has the medians
over the rounds. A script, not a test: it prints numbers and asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import statistics
import sys
import time
from typing import Any

import asyncpg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _explore_bench
from _common import database_url, summarize, with_database
from bench_funnels import STEPS3, STEPS5

from lib_analytics_core.read import explore as ex
from lib_analytics_core.read import funnels

_DAY = dt.timedelta(days=1)
RUNS = 3


async def _p50(call: Any, runs: int = RUNS) -> float:
    await call()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        await call()
        times.append((time.perf_counter() - t0) * 1000)
    return round(summarize(times).p50, 1)


async def _late_redelivery(conn: asyncpg.Connection) -> dict[str, float]:
    """Re-insert 200 stored rows of the newest compressed chunk, as a redelivery would,
    inside a transaction that is rolled back (nothing changes)."""
    chunk = await conn.fetchval(
        "SELECT format('%I.%I', chunk_schema, chunk_name)"
        " FROM timescaledb_information.chunks"
        " WHERE hypertable_name = 'analytics_events' AND is_compressed"
        " ORDER BY range_end DESC LIMIT 1"
    )
    tr = conn.transaction()
    await tr.start()
    try:
        t0 = time.perf_counter()
        status = await conn.execute(
            "INSERT INTO analytics_events"
            ' ("timestamp", event_id, event_type, service, user_id, data)'
            ' SELECT "timestamp", event_id, event_type, service, user_id, data'
            f" FROM {chunk} ORDER BY event_id LIMIT 200"
            ' ON CONFLICT ("timestamp", event_id) DO NOTHING'
        )
        ms = (time.perf_counter() - t0) * 1000
    finally:
        await tr.rollback()
    return {"ms_per_row": round(ms / 200, 2), "inserted": float(status.split()[-1])}


async def _sizes(conn: asyncpg.Connection) -> dict[str, Any]:
    r = await conn.fetchrow(
        "SELECT sum(before_compression_total_bytes) AS before,"
        " sum(after_compression_total_bytes) AS after, count(*) AS chunks"
        " FROM chunk_compression_stats('analytics_events') WHERE compression_status = 'Compressed'"
    )
    total = await conn.fetchval("SELECT hypertable_size('analytics_events')")
    return {
        "compressed_chunks": int(r["chunks"]),
        "before_mb": round(int(r["before"]) / 1e6, 1),
        "after_mb": round(int(r["after"]) / 1e6, 1),
        "ratio_pct": round(100 * (1 - int(r["after"]) / int(r["before"])), 1),
        "hypertable_mb": round(int(total) / 1e6, 1),
    }


async def one_round(url: str, end: dt.datetime) -> dict[str, Any]:
    conn = await asyncpg.connect(url)
    try:
        out: dict[str, Any] = {"timeline": await _explore_bench.timeline_figures(conn)}
        exp: dict[str, float] = {}
        for name, kwargs, _raw in _explore_bench._explore_cases(end):
            if kwargs["end"] - kwargs["start"] <= _DAY:
                continue  # one day: row storage, the layout plays no part

            async def ask(kw: dict[str, Any] = kwargs) -> object:
                return await ex.explore(conn, **kw)

            exp[name.split(",")[0]] = await _p50(ask)
        out["explore_p50_ms"] = exp
        fun: dict[str, float] = {}
        f_end = end - 8 * _DAY  # complete days, the window after them stored
        for name, steps, days in (
            ("funnel 3 steps 7 d", STEPS3, 7),
            ("funnel 3 steps 30 d", STEPS3, 30),
            ("funnel 5 steps 30 d", STEPS5, 30),
        ):

            async def ask_f(s: list[str] = steps, d: int = days) -> object:
                return await funnels.funnel(
                    conn, start=f_end - d * _DAY, end=f_end, steps=s, within=7 * _DAY
                )

            fun[name] = await _p50(ask_f)
        out["funnels_p50_ms"] = fun
        out["late_redelivery"] = await _late_redelivery(conn)
        return out
    finally:
        await conn.close()


def _median_of(rounds: list[dict[str, Any]], *path: str) -> float:
    vals = []
    for r in rounds:
        v: Any = r
        for p in path:
            v = v[p]
        vals.append(float(v))
    return round(statistics.median(vals), 2)


async def run(url: str, rounds: int) -> dict[str, Any]:
    conn = await asyncpg.connect(url)
    try:
        now: dt.datetime = await conn.fetchval("SELECT now()")
        settings = dict(
            await conn.fetchrow(
                "SELECT segmentby, orderby, index::text AS index"
                " FROM timescaledb_information.hypertable_compression_settings"
                " WHERE hypertable = 'analytics_events'::regclass"
            )
        )
        sizes = await _sizes(conn)
    finally:
        await conn.close()
    end = now.replace(hour=0, minute=0, second=0, microsecond=0) + _DAY
    results = []
    for i in range(rounds):
        r = await one_round(url, end)
        print(f"round {i + 1}: {json.dumps(r)}", flush=True)
        results.append(r)
    first = results[0]
    return {
        "settings": settings,
        "sizes": sizes,
        "timeline_p50_ms": _median_of(results, "timeline", "page_p50_ms"),
        "timeline_p95_ms": _median_of(results, "timeline", "page_p95_ms"),
        "timeline_next_page_p95_ms": _median_of(results, "timeline", "next_page_p95_ms"),
        "timeline_raw_p95_ms": _median_of(results, "timeline", "raw_p95_ms"),
        "explore_p50_ms": {
            k: _median_of(results, "explore_p50_ms", k) for k in first["explore_p50_ms"]
        },
        "funnels_p50_ms": {
            k: _median_of(results, "funnels_p50_ms", k) for k in first["funnels_p50_ms"]
        },
        "late_redelivery_ms_per_row": _median_of(results, "late_redelivery", "ms_per_row"),
        "rounds": rounds,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--database", required=True, help="a loaded TimescaleDB database")
    p.add_argument("--database-url", default=None, help="admin DSN (default: DATABASE_URL)")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    url = with_database(database_url(args.database_url), args.database)
    print(json.dumps(asyncio.run(run(url, args.rounds))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
