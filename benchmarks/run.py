"""Run every benchmark: ``python benchmarks/run.py [--quick] [--database-url URL]``.

Prints a table per benchmark and, as its very last line, one JSON object with the
headline numbers (see BENCHMARKS.md for what each key means). ``--quick`` uses small
sizes and finishes in under two minutes (CI runs it to prove the scripts work; its
numbers are not meaningful). The full run is what BENCHMARKS.md reports.

A dedicated database ``lac_bench_<pid>`` is created on the server, migrated with the
library's own migrations, and dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import shutil
import sys
import time
from typing import Any

import asyncpg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _tier
import bench_api_load
import bench_bus
import bench_collect
import bench_ingest
import bench_queries
import bench_track
from _common import (
    bench_database,
    database_url,
    emit,
    machine_description,
    server_version,
    table,
    with_database,
)


def _free_gb(path: str) -> float:
    return shutil.disk_usage(path).free / 1e9


async def _query_stages(
    url: str, stages: list[int], reps: int, raw_reps: int
) -> tuple[list[str], dict[str, Any], list[list[object]]]:
    """Load raw events up to each stage's total, refresh, measure; returns texts, the
    last stage's result, and the scaling rows."""
    now = dt.datetime.now(dt.UTC)
    end = now.replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
    lo = end - dt.timedelta(days=91)
    # Start from an empty raw table (benchmark 2 leaves its last run's rows behind).
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("TRUNCATE analytics_events")
    finally:
        await conn.close()
    loaded = 0
    texts: list[str] = []
    scaling: list[list[object]] = []
    result: dict[str, Any] = {}
    for total in stages:
        info = await bench_queries.load_raw(url, total - loaded, lo, end)
        loaded = total
        text, result = await bench_queries.measure(
            url, reps, raw_reps, f" at {info['rows_total']:,} raw events"
        )
        texts.append(text + f"\nload: {info}\n")
        size_text, size_res = await _tier.sizes(url)
        result.update(size_res)
        result["refresh_s_per_day"] = round(await bench_queries.refresh_per_day(url), 2)
        texts.append(size_text + f"\nrefresh of one day: {result['refresh_s_per_day']} s\n")
        qs = result["queries"]
        keys = (
            "active_users (DAU/WAU/MAU) 90d",
            "api_latency hour x service 90d",
            "task_stats 90d",
            "top_errors 90d",
        )
        scaling.extend(
            [
                f"{info['rows_total']:,}",
                k,
                qs[k]["p50_ms"],
                qs[k]["p95_ms"],
                qs[k]["raw_p50_ms"],
                qs[k]["speedup"],
            ]
            for k in keys
            if k in qs
        )
        result["load"] = info
    return texts, result, scaling


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, < 2 minutes")
    parser.add_argument("--database-url", help="admin DSN (default: DATABASE_URL or local)")
    parser.add_argument("--ingest-events", type=int, help="events for benchmark 2")
    parser.add_argument("--ingest-reps", type=int, help="repetitions of benchmark 2")
    parser.add_argument(
        "--query-rows",
        type=str,
        help="comma-separated raw-event totals for benchmarks 3/4, e.g. 1000000,10000000",
    )
    parser.add_argument(
        "--skip", default="", help="comma-separated: track,ingest,queries,api,bus,collect"
    )
    args = parser.parse_args()
    quick = args.quick
    skip = set(filter(None, args.skip.split(",")))
    admin = database_url(args.database_url)
    started = time.perf_counter()
    out: dict[str, Any] = {"mode": "quick" if quick else "full"}
    machine = machine_description()
    machine["postgres"] = await server_version(admin)
    out["machine"] = machine
    emit(f"lib-analytics-core benchmarks ({out['mode']}) on {json.dumps(machine)}")
    emit(f"database: {with_database(admin, 'lac_bench_<pid>').split('@')[-1]}\n")

    if "track" not in skip:
        text, res = await asyncio.to_thread(bench_track.run, quick)
        emit(text)
        out.update(res)

    n_ingest = args.ingest_events or (20_000 if quick else 1_000_000)
    reps = args.ingest_reps or (1 if quick else 2)
    stages = (
        [int(x) for x in args.query_rows.split(",")]
        if args.query_rows
        else ([50_000] if quick else [1_000_000, 10_000_000])
    )
    if not quick and max(stages) >= 10_000_000 and _free_gb("/") < 20:
        emit(f"only {_free_gb('/'):.0f} GB free: limiting benchmark 3 to 1,000,000 rows")
        stages = [1_000_000]

    async with bench_database(admin) as url:
        if "ingest" not in skip:
            text, res = await asyncio.to_thread(bench_ingest.run, url, n_ingest, reps)
            emit(text)
            out.update(res)
        if "queries" not in skip:
            texts, res, scaling = await _query_stages(
                url, stages, reps=10 if quick else 30, raw_reps=1 if quick else 3
            )
            for t in texts:
                emit(t)
            out.update({k: v for k, v in res.items() if k != "queries"})
            out["query_rows"] = stages[-1]
            out["queries"] = res["queries"]
            emit(
                table(
                    "Benchmark 4: scaling (query latency by raw-event volume, 90-day range)",
                    ["raw events", "query", "p50 ms", "p95 ms", "raw p50 ms", "speed-up"],
                    scaling,
                )
            )
            out["scaling"] = scaling

    if "api" not in skip:  # its own lac_bench_<pid> database: after the one above is gone
        text, res = await bench_api_load.run(
            admin, 2 if quick else 30, 10 if quick else 50, 3.0 if quick else 20.0
        )
        emit(text)
        out.update(res)

    if "bus" not in skip:  # benchmark 5: its own nats-server and database
        out.update(await bench_bus.run(admin, quick, None))

    if "collect" not in skip:  # benchmark 6: the HTTP collector vs the direct worker
        out.update(await bench_collect.run(admin, quick, None))

    out["elapsed_s"] = round(time.perf_counter() - started, 1)
    for key in (
        "track_ns_median",
        "track_with_construction_ns_median",
        "track_vs_segment",
        "track_vs_posthog",
        "ingest_rows_per_s",
        "ingest_ratio_vs_copy",
        "ingest_ratio_vs_seed",
        "query_p95_ms_max",
        "query_speedup_vs_raw",
    ):
        out.setdefault(key, None)
    print(json.dumps(out, default=str), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
