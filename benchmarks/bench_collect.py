"""Benchmark 6: the HTTP collector end to end vs the direct worker, in one run.

``python benchmarks/bench_collect.py [--quick] [--database-url URL] [--events N]``

* **direct**: ``track()`` → worker → binary COPY (``bench_ingest.run_pipeline``), rows/s
  from the first ``track()`` until every row is committed;
* **collector**: ``analytics-collect`` in its own process (uvicorn, one worker process,
  idempotent INSERT per request, durable acks: a 200 only after the commit), 8 concurrent
  HTTP/1.1 keep-alive clients on loopback posting pre-encoded seed-format batches of 100;
  events/s from the first request until the last 200, p50/p99 request latency, and the
  collector process's CPU per event (user + system, from psutil).

Target: the collector reaches >= 0.5x the direct worker's events/s. Prints tables and,
last, one JSON line. Numbers are for the machine it ran on.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from typing import Any

import bench_ingest
import httpx
import msgspec
import psutil
from _common import bench_database, database_url, emit, table
from _workload import Workload

from lib_analytics_core import Event

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKEN = "bench-collect-token-0123456789"
CLIENTS = 8
BATCH = 100


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bodies(events: list[Event]) -> list[bytes]:
    """Seed-format batches of BATCH envelopes, encoded once before timing."""
    now = time.time()
    out = []
    for start in range(0, len(events), BATCH):
        batch = []
        for i, e in enumerate(events[start : start + BATCH], start=start):
            fields = msgspec.to_builtins(e)
            ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{i % 1_000_000:06d}Z"
            batch.append(
                {
                    "timestamp": ts,
                    "event": {"type": e.event_type, **fields},
                    "hostname": "bench-host",
                    "environment": "production",
                }
            )
        out.append(msgspec.json.encode(batch))
    return out


async def _post_all(url: str, payloads: list[bytes]) -> tuple[float, list[float], int]:
    """CLIENTS keep-alive HTTP/1.1 connections posting ``payloads`` as fast as answered.

    A minimal client on asyncio streams (request bytes built before timing, the answer's
    headers and body read by Content-Length), like ``wrk``: on 2 cores the load generator
    must not take the CPU the collector and PostgreSQL need (httpx cost more per request
    than the collector itself)."""
    host, port = url.removeprefix("http://").split(":")
    head = (
        f"POST /events/batch HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
    )
    requests = [(head + f"Content-Length: {len(p)}\r\n\r\n").encode() + p for p in payloads]
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for r in requests:
        queue.put_nowait(r)
    latencies: list[float] = []
    received = 0
    decode = msgspec.json.Decoder(dict[str, Any]).decode

    async def client() -> None:
        nonlocal received
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while not queue.empty():
                request = queue.get_nowait()
                t0 = time.perf_counter()
                writer.write(request)
                header = await reader.readuntil(b"\r\n\r\n")
                status = int(header.split(b" ", 2)[1])
                length = 0
                for line in header.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                latencies.append(time.perf_counter() - t0)
                if status != 200:
                    raise RuntimeError(f"collector answered {status}: {body[:200]!r}")
                received += decode(body)["received"]
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return time.perf_counter() - t0, latencies, received


async def run_collector(url: str, events: list[Event]) -> dict[str, Any]:
    payloads = bodies(events)
    port = _free_port()
    env = {**os.environ, "ANALYTICS_COLLECT_TOKENS": f"{TOKEN}=bench|*"}
    proc = subprocess.Popen(  # noqa: ASYNC220 - our own interpreter; started once
        [
            sys.executable, "-m", "lib_analytics_core.cli.collect",
            "--port", str(port), "--database-url", url, "--rate", "0",
            "--log-level", "warning", "--pool-size", str(CLIENTS),
        ],
        env=env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(300):
                try:
                    if (await http.get(f"{base}/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        # warm-up: connections, the plan of the INSERT
        await _post_all(base, payloads[: CLIENTS * 2])
        await bench_ingest._reset(url)
        ps = psutil.Process(proc.pid)
        c0 = ps.cpu_times()
        g0 = time.process_time()
        secs, latencies, received = await _post_all(base, payloads)
        generator_cpu = time.process_time() - g0
        c1 = ps.cpu_times()
    finally:
        proc.terminate()
        proc.wait(30)
    stored = await bench_ingest._count(url)
    if stored != len(events) or received != len(events):
        raise RuntimeError(f"collector stored {stored}, acknowledged {received} of {len(events)}")
    cpu = (c1.user - c0.user) + (c1.system - c0.system)
    ordered = sorted(x * 1000 for x in latencies)
    return {
        "events_per_s": len(events) / secs,
        "p50_ms": ordered[len(ordered) // 2],
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "server_cpu_us_per_event": cpu / len(events) * 1e6,
        "client_cpu_us_per_event": generator_cpu / len(events) * 1e6,
    }


async def run(admin: str, quick: bool, n: int | None) -> dict[str, Any]:
    n = n or (20_000 if quick else 200_000)
    events = Workload(seed=11).events(n)
    async with bench_database(admin) as url:
        await bench_ingest._reset(url)
        c0 = time.process_time()
        secs, _info = await asyncio.to_thread(bench_ingest.run_pipeline, url, events)
        direct_cpu = (time.process_time() - c0) / n * 1e6
        direct = n / secs
        assert await bench_ingest._count(url) == n
        await bench_ingest._reset(url)
        coll = await run_collector(url, events)
    ratio = coll["events_per_s"] / direct
    rows = [
        ["direct: track -> worker -> COPY", direct, "-", "-", direct_cpu],
        [
            f"collector: {CLIENTS} HTTP clients x {BATCH}-event batches, durable acks",
            coll["events_per_s"],
            coll["p50_ms"],
            coll["p99_ms"],
            coll["server_cpu_us_per_event"],
        ],
    ]
    header = ["path", "events/s", "p50 ms", "p99 ms", "CPU µs/event"]
    emit(
        table(f"Benchmark 6: the HTTP collector vs the direct worker ({n:,} events)", header, rows)
    )
    emit(
        f"collector / direct = {ratio:.2f}x (target >= 0.5x); the 8 HTTP clients (this "
        f"process) used {coll['client_cpu_us_per_event']:.1f} µs CPU per event\n"
    )
    return {
        "collect_events": n,
        "collect_events_per_s": round(coll["events_per_s"]),
        "collect_p50_ms": round(coll["p50_ms"], 2),
        "collect_p99_ms": round(coll["p99_ms"], 2),
        "collect_server_cpu_us_per_event": round(coll["server_cpu_us_per_event"], 1),
        "collect_client_cpu_us_per_event": round(coll["client_cpu_us_per_event"], 1),
        "collect_direct_events_per_s": round(direct),
        "collect_ratio_vs_direct": round(ratio, 3),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--database-url")
    p.add_argument("--events", type=int)
    args = p.parse_args()
    out = asyncio.run(run(database_url(args.database_url), args.quick, args.events))
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
