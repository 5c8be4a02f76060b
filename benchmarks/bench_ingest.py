"""Benchmark 2: ingest throughput, client -> worker -> ``analytics_events``, vs baselines.

All methods write the same rows into the same migrated table (truncated and
checkpointed before each run, so every run starts from the same state):

* **pipeline**: typed events through ``AnalyticsClient.track()`` on the main thread and a
  ``ThreadedWorker`` (``AnalyticsWorker.start_in_thread``) draining it concurrently:
  encoding, UUIDv7, binary COPY. Timed from the first ``track()`` until ``flush()``
  returns (every row committed).
* **raw binary COPY** (the limit): the same rows, already encoded to Python tuples,
  sent with asyncpg ``copy_records_to_table`` in batches of the worker's batch size
  (and once as a single COPY of everything, for reference).
* **psql \\copy**: the same rows from a text-format file (file written beforehand).
* **seed's method**: multi-row ``INSERT ... VALUES ($1, ..., $600)`` with bind
  parameters, batches of 100 rows (what the Rust seed's worker does).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import asyncpg
from _common import psql_available, table
from _workload import Workload

from lib_analytics_core import AnalyticsClient, AnalyticsConfig, AnalyticsWorker, Event
from lib_analytics_core.ingest.encoding import COLUMNS, Row, RowEncoder

BATCH = AnalyticsConfig().max_batch_size  # the worker's default cap: what it writes under load
SEED_BATCH = 100
META: dict[str, Any] = {
    "service_name": "bench",
    "hostname": "bench-host-01",
    "environment": "production",
    "release": "2026.05.1",
}


async def _reset(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("TRUNCATE analytics_events")
        if await conn.fetchval("SELECT to_regclass('analytics_refresh_invalidations') IS NOT NULL"):
            await conn.execute("TRUNCATE analytics_refresh_invalidations")
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


async def _count(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM analytics_events"))
    finally:
        await conn.close()


def run_pipeline(url: str, events: Sequence[Event]) -> tuple[float, dict[str, Any]]:
    client, cfg = AnalyticsClient.new(
        batch_size=100,
        flush_interval_secs=10,
        queue_capacity=max(len(events) + 10, 10_000),
        max_batch_size=BATCH,
        **META,
    )
    threaded = AnalyticsWorker.start_in_thread(cfg, url, register_atexit=False)
    try:
        track = client.track
        t0 = time.perf_counter()
        for e in events:
            track(e)
        t_tracked = time.perf_counter()
        ok = threaded.flush(timeout=3600)
        t1 = time.perf_counter()
        stats = threaded.stats()
    finally:
        threaded.shutdown(timeout=60)
    info = {
        "flushed": ok,
        "written": stats.written,
        "dropped": stats.dropped,
        "batches": stats.batches,
        "track_phase_s": round(t_tracked - t0, 3),
    }
    return t1 - t0, info


async def run_copy(url: str, rows: Sequence[Row], batch: int) -> float:
    conn = await asyncpg.connect(url)
    try:
        t0 = time.perf_counter()
        for i in range(0, len(rows), batch):
            await conn.copy_records_to_table(
                "analytics_events", records=rows[i : i + batch], columns=COLUMNS
            )
        return time.perf_counter() - t0
    finally:
        await conn.close()


def _copy_text(value: object) -> str:
    if value is None:
        return "\\N"
    s = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def write_copy_file(rows: Sequence[Row], path: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write("\t".join(_copy_text(v) for v in r))
            fh.write("\n")


def run_psql(url: str, path: str) -> float:
    cols = ", ".join(f'"{c}"' for c in COLUMNS)
    cmd = [
        "psql",
        url,
        "-v",
        "ON_ERROR_STOP=1",
        "-qc",
        f"\\copy analytics_events ({cols}) FROM '{path}'",
    ]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t0


def _values_sql(n: int) -> str:
    cols = ", ".join(f'"{c}"' for c in COLUMNS)
    groups = ", ".join(
        "(" + ", ".join(f"${i * 6 + j + 1}" for j in range(6)) + ")" for i in range(n)
    )
    return f"INSERT INTO analytics_events ({cols}) VALUES {groups}"


async def run_seed(url: str, rows: Sequence[Row]) -> float:
    conn = await asyncpg.connect(url)
    try:
        full = _values_sql(SEED_BATCH)
        t0 = time.perf_counter()
        for i in range(0, len(rows), SEED_BATCH):
            chunk = rows[i : i + SEED_BATCH]
            sql = full if len(chunk) == SEED_BATCH else _values_sql(len(chunk))
            args: list[object] = [v for r in chunk for v in r]
            await conn.execute(sql, *args)
        return time.perf_counter() - t0
    finally:
        await conn.close()


def encode_rows(events: Sequence[Event]) -> list[Row]:
    enc = RowEncoder(AnalyticsConfig(**META))
    now = time.time_ns()
    batch = enc.encode([(now + i * 1_000, e) for i, e in enumerate(events)])
    assert not batch.rejected
    return batch.rows


def run(url: str, n: int, reps: int, *, label: str = "") -> tuple[str, dict[str, Any]]:
    events = Workload(seed=42).events(n)
    rows = encode_rows(events)
    avg_bytes = sum(len(r[5]) for r in rows) / len(rows)
    tmpdir = tempfile.mkdtemp(prefix="lac_bench_")
    path = os.path.join(tmpdir, "rows.copy")
    write_copy_file(rows, path)
    have_psql = psql_available()
    results: dict[str, list[float]] = {}
    notes: dict[str, Any] = {}

    cpu: dict[str, list[float]] = {}

    def record(name: str, seconds: float, cpu_s: float | None = None) -> None:
        results.setdefault(name, []).append(n / seconds)
        if cpu_s is not None:
            cpu.setdefault(name, []).append(cpu_s / n * 1e6)

    def timed(fn: Any, *args: Any) -> tuple[Any, float]:
        """``fn(*args)`` and this process's CPU seconds for it (all threads): unlike
        wall time, it hardly moves when other processes load the machine."""
        c0 = time.process_time()
        out = fn(*args)
        return out, time.process_time() - c0

    try:
        for _rep in range(reps):
            asyncio.run(_reset(url))
            secs, cpu_s = timed(lambda: asyncio.run(run_copy(url, rows, BATCH)))
            record(f"raw binary COPY (asyncpg, {BATCH:,}-row batches)", secs, cpu_s)
            assert asyncio.run(_count(url)) == n
            asyncio.run(_reset(url))
            secs, cpu_s = timed(lambda: asyncio.run(run_copy(url, rows, n)))
            record("raw binary COPY (asyncpg, one COPY)", secs, cpu_s)
            asyncio.run(_reset(url))
            (secs, info), cpu_s = timed(run_pipeline, url, events)
            record("lib_analytics_core pipeline (track -> worker -> COPY)", secs, cpu_s)
            stored = asyncio.run(_count(url))
            notes["pipeline"] = {**info, "stored": stored}
            if stored != n:
                raise RuntimeError(f"pipeline stored {stored} of {n} rows: {info}")
            if have_psql:
                asyncio.run(_reset(url))
                record("psql \\copy (text format, from file)", run_psql(url, path))
                assert asyncio.run(_count(url)) == n
            asyncio.run(_reset(url))
            secs, cpu_s = timed(lambda: asyncio.run(run_seed(url, rows)))
            record(f"seed's method (INSERT ... VALUES, {SEED_BATCH}-row batches)", secs, cpu_s)
            assert asyncio.run(_count(url)) == n
    finally:
        os.remove(path)
        os.rmdir(tmpdir)

    best = {k: max(v) for k, v in results.items()}
    copy_batched = best[f"raw binary COPY (asyncpg, {BATCH:,}-row batches)"]
    copy_one = best["raw binary COPY (asyncpg, one COPY)"]
    ours = best["lib_analytics_core pipeline (track -> worker -> COPY)"]
    seed = best[f"seed's method (INSERT ... VALUES, {SEED_BATCH}-row batches)"]
    limit = max(copy_batched, copy_one)
    rows_out = [
        [
            k,
            best[k],
            " / ".join(f"{x:,.0f}" for x in v),
            best[k] / limit,
            f"{min(cpu[k]):.2f}" if k in cpu else "-",
        ]
        for k, v in results.items()
    ]
    text = table(
        f"Benchmark 2: ingest{label} ({n:,} events, avg data {avg_bytes:.0f} B; best of {reps}; "
        "ratio to the faster raw COPY; client CPU = this process, all threads, per row)",
        ["method", "rows/s (best)", "rows/s (each run)", "x raw COPY", "client CPU us/row"],
        rows_out,
    )
    res: dict[str, Any] = {
        "ingest_events": n,
        "ingest_rows_per_s": round(ours),
        "ingest_copy_rows_per_s": round(limit),
        "ingest_copy_batched_rows_per_s": round(copy_batched),
        "ingest_copy_single_rows_per_s": round(copy_one),
        "ingest_seed_rows_per_s": round(seed),
        "ingest_ratio_vs_copy": round(ours / limit, 3),
        "ingest_ratio_vs_copy_batched": round(ours / copy_batched, 3),
        "ingest_ratio_vs_seed": round(ours / seed, 2),
        "ingest_pipeline_details": notes.get("pipeline"),
        "ingest_client_cpu_us_per_row": {k: round(min(v), 3) for k, v in cpu.items()},
    }
    psql_key = "psql \\copy (text format, from file)"
    if psql_key in best:
        res["ingest_psql_rows_per_s"] = round(best[psql_key])
    summary = (
        f"pipeline {ours:,.0f} rows/s = {ours / limit:.2f}x raw COPY (target >= 0.95), "
        f"{ours / seed:.1f}x the seed's INSERT (target >= 2); "
        f"pipeline details {notes.get('pipeline')}\n"
    )
    return text + "\n" + summary, res
