"""ASGI middleware overhead: the same Starlette app under uvicorn, middleware off vs on.

Usage::

    python benchmarks/middleware_overhead.py [--requests 4000] [--concurrency 16]
        [--database-url postgresql://postgres@127.0.0.1:5432/postgres]

For each mode the app runs in its own uvicorn process on a loopback port (so the load
generator does not share its GIL); "on" adds ``AnalyticsMiddleware`` plus a real
``AnalyticsWorker`` writing to a scratch database created (and dropped) here. The load
generator is an httpx client with a fixed number of concurrent connections and a
bounded request count, after a warm-up. Prints a table, then one JSON line last.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx

DDL = """
CREATE TABLE analytics_events (
    id BIGSERIAL, "timestamp" TIMESTAMPTZ NOT NULL DEFAULT now(), event_id UUID NOT NULL,
    event_type VARCHAR(100) NOT NULL, service VARCHAR(100) NOT NULL, user_id UUID,
    data JSONB NOT NULL, PRIMARY KEY ("timestamp", event_id));
CREATE TABLE analytics_dead_letters (
    id BIGSERIAL PRIMARY KEY, received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    event_timestamp TIMESTAMPTZ, event_id UUID UNIQUE, event_type TEXT NOT NULL,
    service TEXT NOT NULL, payload TEXT NOT NULL, error TEXT NOT NULL, sqlstate TEXT);
"""


def build_app(mode: str, dsn: str | None) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from lib_analytics_core import AnalyticsClient, AnalyticsWorker
    from lib_analytics_core.integrations.asgi import AnalyticsMiddleware

    async def item(request: Request) -> JSONResponse:
        return JSONResponse({"id": request.path_params["item_id"], "ok": True})

    client, cfg = AnalyticsClient.new(batch_size=500, flush_interval_secs=1, service_name="bench")

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        if mode != "on":
            yield
            return
        worker = AnalyticsWorker(cfg, dsn or "")
        task = asyncio.create_task(worker.run())
        yield
        await worker.shutdown(timeout=30)
        await task

    app = Starlette(routes=[Route("/items/{item_id}", item)], lifespan=lifespan)
    if mode == "on":
        app.add_middleware(AnalyticsMiddleware, client=client)
    return app


def serve(mode: str, port: int, dsn: str | None) -> None:
    import uvicorn

    uvicorn.run(build_app(mode, dsn), host="127.0.0.1", port=port, log_level="error")


async def load(port: int, requests: int, concurrency: int, warmup: int) -> dict[str, float]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits) as http:
        deadline = time.monotonic() + 30
        while True:
            try:
                await http.get("/items/0")
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
        latencies: list[float] = []
        counter = iter(range(warmup + requests))

        async def one_connection() -> None:
            for i in counter:
                t0 = time.perf_counter()
                response = await http.get(f"/items/{i}")
                elapsed = time.perf_counter() - t0
                assert response.status_code == 200
                if i >= warmup:
                    latencies.append(elapsed)

        started = time.perf_counter()
        await asyncio.gather(*(one_connection() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    latencies.sort()
    q = statistics.quantiles(latencies, n=100)
    return {
        "requests": len(latencies),
        "rps": (warmup + requests) / wall,
        "p50_ms": q[49] * 1000,
        "p99_ms": q[98] * 1000,
        "mean_ms": statistics.fmean(latencies) * 1000,
    }


def in_process(n: int) -> dict[str, float]:
    """Per-request cost without the network: the ASGI app called directly, n times.

    Loopback HTTP on a shared 2-core machine is noisy to tens of milliseconds; this
    isolates what the middleware itself adds (route lookup, timing, event, track()).
    """
    from lib_analytics_core import AnalyticsClient
    from lib_analytics_core.integrations.asgi import AnalyticsMiddleware

    async def measure(app: Any) -> float:
        scope = {
            "type": "http",
            "method": "GET",
            "path": "/items/1",
            "headers": [],
            "query_string": b"",
            "root_path": "",
            "scheme": "http",
            "server": ("127.0.0.1", 80),
            "client": ("127.0.0.1", 1),
        }

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Any) -> None:
            return None

        for _ in range(500):
            await app(dict(scope), receive, send)
        t0 = time.perf_counter()
        for _ in range(n):
            await app(dict(scope), receive, send)
        return (time.perf_counter() - t0) / n * 1e6

    plain = build_app("off", None)
    client = AnalyticsClient.new(
        queue_capacity=n + 1000, max_batch_size=n + 1000, batch_size=n + 1000
    )[0]
    wrapped = AnalyticsMiddleware(plain, client)
    off_us = asyncio.run(measure(plain))
    on_us = asyncio.run(measure(wrapped))
    return {"off_us": off_us, "on_us": on_us, "overhead_us": on_us - off_us}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_mode(mode: str, dsn: str, args: argparse.Namespace) -> dict[str, float]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", mode, "--port", str(port), "--database-url", dsn]
    )
    try:
        return asyncio.run(load(port, args.requests, args.concurrency, args.warmup))
    finally:
        proc.terminate()
        proc.wait(timeout=60)


async def scratch_db(admin: str, name: str, create: bool) -> None:
    conn = await asyncpg.connect(admin)
    try:
        if create:
            await conn.execute(f'CREATE DATABASE "{name}"')
        else:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
    if create:
        conn = await asyncpg.connect(admin.rsplit("/", 1)[0] + "/" + name)
        try:
            await conn.execute(DDL)
        finally:
            await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--serve", choices=["on", "off"])
    parser.add_argument("--port", type=int)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.database_url)
        return
    name = f"lac_bench_{uuid.uuid4().hex[:8]}"
    asyncio.run(scratch_db(args.database_url, name, create=True))
    dsn = args.database_url.rsplit("/", 1)[0] + "/" + name
    try:
        results = {mode: run_mode(mode, dsn, args) for mode in ("off", "on")}
        stored = asyncio.run(_count(dsn))
        direct = in_process(20_000)
    finally:
        asyncio.run(scratch_db(args.database_url, name, create=False))
    off, on = results["off"], results["on"]
    print(f"{'mode':<6}{'requests':>10}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'mean ms':>10}")
    for mode, r in results.items():
        print(
            f"{mode:<6}{r['requests']:>10.0f}{r['rps']:>10.0f}{r['p50_ms']:>10.3f}"
            f"{r['p99_ms']:>10.3f}{r['mean_ms']:>10.3f}"
        )
    overhead = {
        "mean_us": (on["mean_ms"] - off["mean_ms"]) * 1000,
        "p50_us": (on["p50_ms"] - off["p50_ms"]) * 1000,
        "throughput_pct": (on["rps"] / off["rps"] - 1) * 100,
    }
    print(
        f"overhead: mean {overhead['mean_us']:+.0f} us, p50 {overhead['p50_us']:+.0f} us, "
        f"throughput {overhead['throughput_pct']:+.1f}%; api_request rows stored: {stored}"
    )
    print(
        f"in-process (no network, {20_000} calls): off {direct['off_us']:.1f} us, "
        f"on {direct['on_us']:.1f} us, middleware adds {direct['overhead_us']:.1f} us/request"
    )
    print(
        json.dumps(
            {
                "benchmark": "middleware_overhead",
                "concurrency": args.concurrency,
                "off": off,
                "on": on,
                "overhead": overhead,
                "rows_stored": stored,
                "in_process": direct,
            }
        )
    )


async def _count(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM analytics_events"))
    finally:
        await conn.close()


if __name__ == "__main__":
    main()
