"""Benchmark 6: the HTTP collector end to end vs the direct worker, in one run.

``python benchmarks/bench_collect.py [--quick] [--database-url URL] [--events N] [--collectors K]``

* **direct**: ``track()`` → worker → binary COPY (``bench_ingest.run_pipeline``), rows/s
  from the first ``track()`` until every row is committed;
* **collector**: ``analytics-collect`` in its own process (uvicorn, one worker process,
  idempotent INSERT per request, durable acks: a 200 only after the commit), 8 concurrent
  HTTP/1.1 keep-alive clients on loopback posting pre-encoded seed-format batches of 100;
  events/s from the first request until the last 200, p50/p99 request latency, and the
  collector process's CPU per event (user + system, from psutil; ``*_sys_us_per_event``
  is the kernel's part).

* **the whole path's CPU per event**, per process, for each path: the writer (this
  process for the direct path; the collector), the HTTP clients, and the PostgreSQL
  backends serving the benchmark's database (sampled from ``/proc``; shared processes
  such as the WAL writer are not counted), with events per transaction: where each
  path's CPU goes (on a machine shared with other work, events/s followed the sum; on a
  quiet one the collector is bound by its writer's waits, next item and BENCHMARKS.md).

* **Segment**: the same events as Segment ``track`` calls (``POST /v1/batch``, Title Case
  names mapped to the registered classes, string ids, ``messageId``, ``sentAt``), same
  clients and batch size.

* **the one writer**: the share of the collector's run with a group write in flight
  (``GET /stats``: ``write_busy_seconds``, ``group_commits``), and the same rows written
  again by COPY alone in groups of the same size (``copy_ceiling``): where the
  collector's events/s is bound, and by how much the request handling that shares the
  writer's event loop slows it.

``--collectors K`` runs K collector processes with the clients spread over them (CPU
summed over the processes); the default, one, is the like-for-like comparison.

Targets (issue 28): collector CPU <= 10 µs per event and >= 0.8x the direct worker's
events/s, for both formats. ``BENCH_COLLECT_PROFILE=/tmp/prof`` also records a py-spy
profile of the collector process per format (``pip install py-spy``; with
``BENCH_COLLECT_PROFILE_NATIVE=1`` its C frames too: the GC, asyncpg's codecs). Prints tables
and, last, one JSON line. Numbers are for the machine it ran on.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from typing import Any
from urllib.parse import urlsplit

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


class PgCpu:
    """CPU of the PostgreSQL backends serving one database, over a window.

    Backends come and go (the direct worker closes its pool when done), so a thread
    samples every backend of the database (``postgres: … <db> …`` in its command line)
    every 20 ms and keeps each one's last CPU time: a backend that exits loses at most
    its last 20 ms. Shared processes (WAL writer, checkpointer) are not counted: other
    databases on the machine use them too. With the number of commits (``xact_commit``
    of ``pg_stat_database``, read after the backends have exited and flushed it)."""

    def __init__(self, url: str) -> None:
        self.db = urlsplit(url).path.lstrip("/")
        self._start: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.own_cpu = 0.0
        """This sampler's own CPU (a share of this process's: subtracted from it)."""

    def _sample(self) -> dict[int, float]:
        out = {}
        marker = f" {self.db} "
        for proc in psutil.process_iter(["name", "cmdline"]):
            try:
                cmd = " ".join(proc.info["cmdline"] or ())
                if proc.info["name"] == "postgres" and marker in f"{cmd} ":
                    t = proc.cpu_times()
                    out[proc.pid] = t.user + t.system
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        return out

    def _loop(self) -> None:
        t0 = time.thread_time()
        while not self._stop.wait(0.02):
            self._last.update(self._sample())
        self.own_cpu = time.thread_time() - t0

    def __enter__(self) -> PgCpu:
        self._start = self._sample()
        self._last = dict(self._start)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._last.update(self._sample())

    @property
    def seconds(self) -> float:
        return sum(v - self._start.get(pid, 0.0) for pid, v in self._last.items())


async def _commits(url: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await asyncio.sleep(1.2)  # backends flush their statistics at most once a second
        value = await conn.fetchval(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        )
        return int(value)
    finally:
        await conn.close()


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


def segment_bodies(events: list[Event]) -> list[bytes]:
    """The same events as Segment ``track`` batches (``POST /v1/batch``), as the stock
    SDKs send them: Title Case names, properties, string ids, ``messageId``, ``sentAt``."""
    now = time.time()
    sent_at = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(now))
    out = []
    for start in range(0, len(events), BATCH):
        batch = []
        for i, e in enumerate(events[start : start + BATCH], start=start):
            fields = msgspec.to_builtins(e)
            user = fields.pop("user_id", None)
            ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{i % 1_000_000:06d}Z"
            message: dict[str, Any] = {
                "type": "track",
                "messageId": f"bench-{i}",
                "event": e.event_type.replace("_", " ").title(),
                "properties": fields,
                "timestamp": ts,
                "context": {"library": {"name": "analytics-node", "version": "3.1.0"}},
            }
            if user is not None:
                message["userId"] = str(user)
            else:
                message["anonymousId"] = f"anon-{i % 1000}"
            batch.append(message)
        out.append(msgspec.json.encode({"batch": batch, "sentAt": sent_at}))
    return out


async def _post_all(
    url: str | list[str], payloads: list[bytes], path: str = "/events/batch"
) -> tuple[float, list[float], int]:
    """CLIENTS keep-alive HTTP/1.1 connections posting ``payloads`` as fast as answered.

    A minimal client on asyncio streams (request bytes built before timing, the answer's
    headers and body read by Content-Length), like ``wrk``: on 2 cores the load generator
    must not take the CPU the collector and PostgreSQL need (httpx cost more per request
    than the collector itself). Several ``url``s (collector processes): client ``k``
    talks to ``url[k % len(url)]``."""
    urls = [url] if isinstance(url, str) else url
    head = (
        f"POST {path} HTTP/1.1\r\nHost: collector\r\n"
        f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
    )
    requests = [(head + f"Content-Length: {len(p)}\r\n\r\n").encode() + p for p in payloads]
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for r in requests:
        queue.put_nowait(r)
    latencies: list[float] = []
    received = 0
    decode = msgspec.json.Decoder(dict[str, Any]).decode

    async def client(k: int) -> None:
        nonlocal received
        host, port = urls[k % len(urls)].removeprefix("http://").split(":")
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
    await asyncio.gather(*(client(k) for k in range(CLIENTS)))
    return time.perf_counter() - t0, latencies, received


def _start_collector(url: str, port: int) -> subprocess.Popen[bytes]:
    """``analytics-collect`` in its own process (our own interpreter), one uvicorn worker."""
    env = {**os.environ, "ANALYTICS_COLLECT_TOKENS": f"{TOKEN}=bench|*"}
    return subprocess.Popen(
        [
            sys.executable, "-m", "lib_analytics_core.cli.collect",
            "--port", str(port), "--database-url", url, "--rate", "0",
            "--log-level", "warning", "--pool-size", str(CLIENTS),
        ],
        env=env,
    )  # fmt: skip


async def run_collector(
    url: str, events: list[Event], segment: bool = False, collectors: int = 1
) -> dict[str, Any]:
    """One format through ``collectors`` collector processes (stateless, each with its
    own writer), the clients spread over them; CPU is summed over the processes."""
    payloads = segment_bodies(events) if segment else bodies(events)
    path = "/v1/batch" if segment else "/events/batch"
    ports = [_free_port() for _ in range(collectors)]
    procs = [_start_collector(url, port) for port in ports]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    proc = procs[0]
    profiler: subprocess.Popen[bytes] | None = None
    try:
        async with httpx.AsyncClient() as http:
            for base in bases:
                for _ in range(300):
                    try:
                        if (await http.get(f"{base}/health")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.1)
        # warm-up: connections, the plan of the INSERT
        await _post_all(bases, payloads[: CLIENTS * 2], path)
        await bench_ingest._reset(url)
        commits0 = await _commits(url)
        pg = PgCpu(url).__enter__()
        ps = [psutil.Process(p.pid) for p in procs]
        c0 = [p.cpu_times() for p in ps]
        g0 = time.process_time()
        prefix = os.environ.get("BENCH_COLLECT_PROFILE")
        if prefix:  # py-spy the (first) collector while it runs
            out = f"{prefix}-{'segment' if segment else 'seed'}.txt"
            native = ["--native"] if os.environ.get("BENCH_COLLECT_PROFILE_NATIVE") else []
            profiler = subprocess.Popen(  # noqa: ASYNC220 - started once
                ["py-spy", "record", "--pid", str(proc.pid), "--format", "raw", "--rate", "200",
                 "--output", out, *native],
            )  # fmt: skip
        stats0 = await _stats(bases)
        secs, latencies, received = await _post_all(bases, payloads, path)
        c1 = [p.cpu_times() for p in ps]
        stats1 = await _stats(bases)
        pg.__exit__()
        generator_cpu = time.process_time() - g0 - pg.own_cpu
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)
        if profiler is not None:
            profiler.wait(60)  # py-spy writes its profile when the collector exits
    commits = await _commits(url) - commits0
    stored = await bench_ingest._count(url)
    if stored != len(events) or received != len(events):
        raise RuntimeError(f"collector stored {stored}, acknowledged {received} of {len(events)}")
    user = sum(b.user - a.user for a, b in zip(c0, c1, strict=True))
    system = sum(b.system - a.system for a, b in zip(c0, c1, strict=True))
    cpu = user + system
    ordered = sorted(x * 1000 for x in latencies)
    return {
        "events_per_s": len(events) / secs,
        "p50_ms": ordered[len(ordered) // 2],
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "server_cpu_us_per_event": cpu / len(events) * 1e6,
        # the kernel's share (socket reads and writes: the HTTP answers, the COPY data)
        "server_sys_us_per_event": system / len(events) * 1e6,
        "client_cpu_us_per_event": generator_cpu / len(events) * 1e6,
        "pg_cpu_us_per_event": pg.seconds / len(events) * 1e6,
        "events_per_commit": len(events) / max(commits, 1),
        # The writers' saturation (GET /stats): the share of the run with a group write
        # in flight (per collector), and the rows each group carried.
        "writer_busy": (stats1["write_busy_seconds"] - stats0["write_busy_seconds"])
        / secs
        / collectors,
        "rows_per_group": len(events) / max(stats1["group_commits"] - stats0["group_commits"], 1),
    }


async def _stats(bases: list[str]) -> dict[str, float]:
    """The writers' counters of ``GET /stats``, summed over the collectors."""
    total = {"write_busy_seconds": 0.0, "group_commits": 0.0}
    async with httpx.AsyncClient() as http:
        for base in bases:
            answer = await http.get(f"{base}/stats", headers={"Authorization": f"Bearer {TOKEN}"})
            counted = answer.json()
            for key in total:
                total[key] += counted[key]
    return total


async def copy_ceiling(url: str, group: float) -> dict[str, float]:
    """The write path alone: the rows the collector just stored, read back and written
    again by binary COPY (the collector's statement, its codecs) in groups of ``group``
    rows, one after the other on one connection, with no HTTP and no other work in the
    process. Events/s here bound what one writer can acknowledge; with the collector's
    ``writer_busy`` near 1, the distance to it is what the request handling in the same
    event loop costs the writer (its answers wait for the loop)."""
    import asyncpg

    from lib_analytics_core.ingest.pipeline import fast_row_codecs
    from lib_analytics_core.ingest.rows import COLUMNS

    columns = ", ".join(f'"{c}"' for c in COLUMNS)
    conn = await asyncpg.connect(url)
    try:
        rows = [
            tuple(r)
            for r in await conn.fetch(f"SELECT {columns} FROM analytics_events ORDER BY 1, 2")
        ]
        await conn.execute("TRUNCATE analytics_events")
        await fast_row_codecs(conn)
        backend = psutil.Process(await conn.fetchval("SELECT pg_backend_pid()"))
        size = max(1, round(group))
        b0, t0 = backend.cpu_times(), time.perf_counter()
        for start in range(0, len(rows), size):
            await conn.copy_records_to_table(
                "analytics_events", records=rows[start : start + size], columns=COLUMNS
            )
        secs = time.perf_counter() - t0
        b1 = backend.cpu_times()
        assert await conn.fetchval("SELECT count(*) FROM analytics_events") == len(rows)
    finally:
        await conn.close()
    n = len(rows)
    return {
        "events_per_s": n / secs,
        "pg_cpu_us_per_event": ((b1.user + b1.system) - (b0.user + b0.system)) / n * 1e6,
    }


async def run(admin: str, quick: bool, n: int | None, collectors: int = 1) -> dict[str, Any]:
    n = n or (20_000 if quick else 200_000)
    events = Workload(seed=11).events(n)
    async with bench_database(admin) as url:
        await bench_ingest._reset(url)
        commits0 = await _commits(url)
        c0 = time.process_time()
        with PgCpu(url) as pg:
            secs, _info = await asyncio.to_thread(bench_ingest.run_pipeline, url, events)
        direct_cpu = (time.process_time() - c0 - pg.own_cpu) / n * 1e6
        direct_pg = pg.seconds / n * 1e6
        direct_per_commit = n / max(await _commits(url) - commits0, 1)
        direct = n / secs
        assert await bench_ingest._count(url) == n
        await bench_ingest._reset(url)
        coll = await run_collector(url, events, collectors=collectors)
        coll_ceiling = await copy_ceiling(url, coll["rows_per_group"])
        await bench_ingest._reset(url)
        seg = await run_collector(url, events, segment=True, collectors=collectors)
        seg_ceiling = await copy_ceiling(url, seg["rows_per_group"])
    ratio = coll["events_per_s"] / direct
    seg_ratio = seg["events_per_s"] / direct
    rows = [
        ["direct: track -> worker -> COPY", direct, "-", "-", direct_cpu],
        [
            f"collector: {CLIENTS} HTTP clients x {BATCH}-event batches, durable acks",
            coll["events_per_s"],
            coll["p50_ms"],
            coll["p99_ms"],
            coll["server_cpu_us_per_event"],
        ],
        [
            f"Segment /v1/batch: {CLIENTS} HTTP clients x {BATCH} track calls, durable acks",
            seg["events_per_s"],
            seg["p50_ms"],
            seg["p99_ms"],
            seg["server_cpu_us_per_event"],
        ],
    ]
    header = ["path", "events/s", "p50 ms", "p99 ms", "CPU µs/event"]
    emit(
        table(f"Benchmark 6: the HTTP collector vs the direct worker ({n:,} events)", header, rows)
    )
    # The whole machine's CPU per event, per process: events/s is throughput on shared
    # cores, so a path that costs PostgreSQL or the load generator more per event loses
    # ratio even with a collector as cheap as the worker.
    machine = [
        ["direct", direct_cpu, 0.0, direct_pg, direct_cpu + direct_pg, direct_per_commit],
        *(
            [
                name,
                r["server_cpu_us_per_event"],
                r["client_cpu_us_per_event"],
                r["pg_cpu_us_per_event"],
                r["server_cpu_us_per_event"]
                + r["client_cpu_us_per_event"]
                + r["pg_cpu_us_per_event"],
                r["events_per_commit"],
            ]
            for name, r in (("collector (seed)", coll), ("collector (Segment)", seg))
        ),
    ]
    emit(
        table(
            "CPU µs per event, whole path (direct: track() and the worker in this process)",
            ["path", "writer", "HTTP clients", "PG backends", "total", "events/commit"],
            machine,
        )
    )
    # Where the collector's events/s is bound: its one writer's share of the run with
    # a write in flight, and what that writer reaches on the same rows with nothing else
    # to do (copy_ceiling).
    emit(
        table(
            "The one writer: saturation, and the same rows by COPY alone (copy_ceiling)",
            [
                "path",
                "writer busy",
                "rows/group",
                "events/s",
                "COPY alone events/s",
                "its PG µs/event",
                "COPY alone / direct",
            ],
            [
                [
                    name,
                    f"{r['writer_busy']:.0%}",
                    r["rows_per_group"],
                    r["events_per_s"],
                    c["events_per_s"],
                    c["pg_cpu_us_per_event"],
                    f"{c['events_per_s'] / direct:.2f}x",
                ]
                for name, r, c in (
                    ("collector (seed)", coll, coll_ceiling),
                    ("collector (Segment)", seg, seg_ceiling),
                )
            ],
        )
    )
    emit(
        f"collector / direct = {ratio:.2f}x, Segment / direct = {seg_ratio:.2f}x (target >= "
        f"0.8x, <= 10 µs CPU/event); the 8 HTTP clients (this "
        f"process) used {coll['client_cpu_us_per_event']:.1f} µs CPU per event\n"
    )
    return {
        "collect_events": n,
        "collect_collectors": collectors,
        "collect_events_per_s": round(coll["events_per_s"]),
        "collect_p50_ms": round(coll["p50_ms"], 2),
        "collect_p99_ms": round(coll["p99_ms"], 2),
        "collect_server_cpu_us_per_event": round(coll["server_cpu_us_per_event"], 1),
        "collect_server_sys_us_per_event": round(coll["server_sys_us_per_event"], 1),
        "collect_client_cpu_us_per_event": round(coll["client_cpu_us_per_event"], 1),
        "collect_direct_events_per_s": round(direct),
        "collect_direct_cpu_us_per_event": round(direct_cpu, 1),
        "collect_direct_pg_cpu_us_per_event": round(direct_pg, 1),
        "collect_direct_events_per_commit": round(direct_per_commit, 1),
        "collect_pg_cpu_us_per_event": round(coll["pg_cpu_us_per_event"], 1),
        "collect_events_per_commit": round(coll["events_per_commit"], 1),
        "collect_segment_pg_cpu_us_per_event": round(seg["pg_cpu_us_per_event"], 1),
        "collect_segment_events_per_commit": round(seg["events_per_commit"], 1),
        "collect_ratio_vs_direct": round(ratio, 3),
        "collect_segment_events_per_s": round(seg["events_per_s"]),
        "collect_segment_p50_ms": round(seg["p50_ms"], 2),
        "collect_segment_p99_ms": round(seg["p99_ms"], 2),
        "collect_segment_server_cpu_us_per_event": round(seg["server_cpu_us_per_event"], 1),
        "collect_segment_server_sys_us_per_event": round(seg["server_sys_us_per_event"], 1),
        "collect_segment_ratio_vs_direct": round(seg_ratio, 3),
        "collect_writer_busy": round(coll["writer_busy"], 3),
        "collect_rows_per_group": round(coll["rows_per_group"], 1),
        "collect_copy_alone_events_per_s": round(coll_ceiling["events_per_s"]),
        "collect_segment_writer_busy": round(seg["writer_busy"], 3),
        "collect_segment_rows_per_group": round(seg["rows_per_group"], 1),
        "collect_segment_copy_alone_events_per_s": round(seg_ceiling["events_per_s"]),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--database-url")
    p.add_argument("--events", type=int)
    p.add_argument(
        "--collectors",
        type=int,
        default=1,
        help="collector processes, the clients spread over them (default 1: like for like)",
    )
    args = p.parse_args()
    out = asyncio.run(
        run(database_url(args.database_url), args.quick, args.events, args.collectors)
    )
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
