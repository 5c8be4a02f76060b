"""Benchmark 5: the HTTP API under the dashboard's own load, on loopback.

``python benchmarks/bench_api_load.py [--days 30] [--clients 50] [--seconds 20]``

Set-up (not measured): a fresh database migrated with the library's migrations, the
demo's simulation (``demo.simulate``, the same data ``analytics-demo`` shows) over
``--days`` days, ``refresh_aggregates()``. The API then runs as ``analytics-api`` ships it (its own
``main``: uvicorn with httptools and uvloop, ``--workers`` as given, default 1, the access
log at warning) in a process group of its own, so the load generator does not share its
event loop or its GIL.

Load: ``--clients`` concurrent clients, each with its own keep-alive connection, replay
the requests the dashboard makes for one view (``dashboard.js``: active users, the per-
service latency series, the request series, errors and top errors, tasks, integrations,
auth, cocoons; since issue 20 the overview that fills every KPI card, the slowest
endpoints, the event types and one event type's trend) for a random preset (24 h, 7 d,
30 d, 90 d; hourly granularity up to 14 days, as the page does) and, one view in three,
a service filter; one request at a time per client, back to back. A separate prober
calls ``/healthz`` every 100 ms throughout. Reported: requests/s, latency percentiles,
non-200 answers, and the /healthz latencies; and where the machine's CPU went during
the span (ms of CPU per request of the API's processes, of its PostgreSQL backends and of
the load generator; the machine's idle and steal share), which is what differs between
two machines of the same kind. Targets (issue 20): >= 600 req/s, p99 <= 250 ms,
/healthz < 100 ms throughout. Prints a table and, last, one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import multiprocessing
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from typing import Any

import asyncpg
import httpx
import psutil  # type: ignore[import-untyped]  # dev/bench dependency, no stubs pinned

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import bench_database, database_url, summarize, table

from lib_analytics_core import refresh_aggregates
from lib_analytics_core.api._cache import DEFAULT_CACHE_TTL_S
from lib_analytics_core.demo.simulate import SimulationConfig, simulate

TOKEN = "bench-token-0123456789abcdef"
PRESETS = (1, 7, 30, 90)
RANKINGS = ("p95", "p99", "error_rate", "requests")
#: Event types the trends panel is pointed at (the picker's default is the first).
EVENT_TYPES = ("api_request", "task_created", "auth_login_attempt")
#: ``analytics-api --workers`` for the measured runs (BENCHMARKS.md, issue 20: sizing).
DEFAULT_WORKERS = 1


def _server_command(url: str, port: int, cache_ttl_s: float, workers: int) -> list[str]:
    """``analytics-api`` as it ships (its own ``main``: uvicorn with its defaults, the
    ``api`` extra's httptools and uvloop, ``--workers``), the access log at warning."""
    return [
        sys.executable, "-m", "lib_analytics_core.cli.api",
        "--database-url", url, "--port", str(port), "--workers", str(workers),
        "--cache-ttl", str(cache_ttl_s), "--log-level", "warning",
    ]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _view(rng: random.Random, services: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """The requests one dashboard view makes (dashboard.js ``loadAll``)."""
    days = rng.choice(PRESETS)
    today = dt.datetime.now(dt.UTC).date()
    start = today - dt.timedelta(days=days - 1)
    rng_params: dict[str, Any] = {
        "start": f"{start.isoformat()}T00:00:00Z",
        "end": f"{(today + dt.timedelta(days=1)).isoformat()}T00:00:00Z",
    }
    service = rng.choice(services) if services and rng.random() < 1 / 3 else None
    svc = {"service": service} if service else {}
    granularity = "hour" if days <= 14 else "day"
    errors = dict(rng_params, **svc, limit=100_000)
    if days > 93:  # pragma: no cover - presets stop at 90
        errors["start"] = (today - dt.timedelta(days=92)).isoformat()
    return [
        ("/v1/active-users", rng_params),
        (
            "/v1/api-latency",
            dict(rng_params, granularity=granularity, group_by="service", limit=100_000, **svc),
        ),
        (
            "/v1/api-latency",
            dict(rng_params, granularity=granularity, group_by="total", limit=100_000, **svc),
        ),
        ("/v1/overview", rng_params),
        ("/v1/errors", errors),
        ("/v1/errors/top", dict(rng_params, limit=10, **svc)),
        ("/v1/endpoints/top", dict(rng_params, by=rng.choice(RANKINGS), limit=10, **svc)),
        ("/v1/events/types", {}),
        (
            "/v1/events/trends",
            dict(
                rng_params,
                granularity=granularity,
                event_type=rng.choice(EVENT_TYPES),
                limit=100_000,
                **svc,
            ),
        ),
        ("/v1/tasks", rng_params),
        ("/v1/integrations", dict(rng_params, by_day="false")),
        ("/v1/auth", rng_params),
        ("/v1/cocoons", rng_params),
    ]


class _KeepAlive:
    """One keep-alive HTTP/1.1 connection that sends GETs and reads ``Content-Length``
    bodies: the load generator's default client. Why not httpx: the generator shares the
    2 cores with the API and PostgreSQL, and httpx spent 1.5-2.2 ms of CPU per request
    (5x the API's own 0.3-0.5 ms, issue 20), so the benchmark measured mostly its own
    client. A browser running the dashboard spends none of the server's CPU; this client
    about a tenth of httpx's (``--client httpx`` keeps the old one for comparison)."""

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        split = urllib.parse.urlsplit(base)
        self.host, self.port = split.hostname or "127.0.0.1", split.port or 80
        lines = [f"Host: {split.netloc}", *(f"{k}: {v}" for k, v in headers.items())]
        self.head = ("\r\n".join(lines) + "\r\n\r\n").encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str, params: dict[str, Any]) -> tuple[int, int]:
        """(status, body bytes) of ``GET path?params``."""
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        query = urllib.parse.urlencode(params)
        target = f"{path}?{query}" if query else path
        self.writer.write(b"GET " + target.encode() + b" HTTP/1.1\r\n" + self.head)
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = _CONTENT_LENGTH.search(head)
        if length is None:  # pragma: no cover - uvicorn sends Content-Length here
            raise RuntimeError(f"no Content-Length in {head[:200]!r}")
        body = await self.reader.readexactly(int(length.group(1)))
        return int(head[9:12]), len(body)

    async def aclose(self) -> None:
        if self.writer is not None:
            self.writer.close()


class _Httpx:
    """The same interface over httpx (``--client httpx``: the generator before issue 20's
    item 4)."""

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        self.http = httpx.AsyncClient(base_url=base, headers=headers, timeout=60)

    async def get(self, path: str, params: dict[str, Any]) -> tuple[int, int]:
        resp = await self.http.get(path, params=params)
        return resp.status_code, len(resp.content)

    async def aclose(self) -> None:
        await self.http.aclose()


_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
CLIENTS = {"keepalive": _KeepAlive, "httpx": _Httpx}


def _clients_process(  # noqa: PLR0917 - one process's share of the load
    base: str,
    first: int,
    count: int,
    span: tuple[float, float],
    services: list[str],
    out: Any,
    kind: str = "keepalive",
) -> None:
    """``count`` clients (numbered from ``first``) in a process of their own, from the
    wall-clock time ``span[0]`` to ``span[1]``; puts the raw latencies, statuses,
    per-route totals and the process's own CPU time."""
    begin, stop = span

    async def main() -> tuple[list[float], dict[int, int], dict[str, list[float]]]:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        per_route: dict[str, list[float]] = {}  # route -> [requests, bytes, ms]

        async def client(k: int, http: _KeepAlive | _Httpx) -> None:
            rng = random.Random(k)
            try:
                while time.time() < stop:
                    for path, params in _view(rng, services):
                        t0 = time.perf_counter()
                        status, size = await http.get(path, params)
                        ms = (time.perf_counter() - t0) * 1000
                        latencies.append(ms)
                        acc = per_route.setdefault(path, [0, 0, 0.0])
                        acc[0] += 1
                        acc[1] += size
                        acc[2] += ms
                        statuses[status] = statuses.get(status, 0) + 1
                        if time.time() >= stop:
                            return
            finally:
                await http.aclose()

        # The clients (an httpx one builds an SSL context: tens of ms of CPU) exist before
        # the measured span; the old generator built them inside it, on a starved machine
        # seconds of "latency" that were the generator's own start-up.
        https = [CLIENTS[kind](base, headers) for _ in range(count)]
        await asyncio.sleep(max(0.0, begin - time.time()))  # all processes start together
        ks = range(first, first + count)
        await asyncio.gather(*(client(k, h) for k, h in zip(ks, https, strict=True)))
        return latencies, statuses, per_route

    cpu0 = time.process_time()
    lat, st, routes = asyncio.run(main())
    out.put((lat, st, routes, time.process_time() - cpu0))


def _prober_process(base: str, span: tuple[float, float], out: Any) -> None:
    """``/healthz`` every 100 ms from a process of its own: it measures the server, not
    the load generator's event loop (sharing that loop, the old prober's "/healthz max"
    included its own wait for 50 busy clients)."""
    begin, stop = span
    time.sleep(max(0.0, begin - time.time()))
    health: list[float] = []
    bad = 0
    with httpx.Client(base_url=base, timeout=60) as http:
        while time.time() < stop:
            t0 = time.perf_counter()
            resp = http.get("/healthz")
            health.append((time.perf_counter() - t0) * 1000)
            bad += resp.status_code != 200
            time.sleep(0.1)
    out.put((health, bad))


def _machine_jiffies() -> tuple[int, int, int]:
    """(total, idle + iowait, steal) CPU ticks of the whole machine (/proc/stat)."""
    with open("/proc/stat", encoding="ascii") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return sum(fields[:8]), fields[3] + fields[4], fields[7]


def _server_cpu_s(server_pid: int) -> float:
    """CPU seconds (user + system) of the API: the process ``server_pid`` started and
    its workers, without py-spy and without multiprocessing's resource tracker."""
    root = psutil.Process(server_pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        try:
            cmd = " ".join(proc.cmdline())
            if "py-spy" in proc.name() or "resource_tracker" in cmd:
                continue
            t = proc.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.Error:
            continue
    return total


async def _postgres_cpu_s(url: str) -> float:
    """CPU seconds of the API's PostgreSQL backends, since each started (they are born
    during the run: the pools open on the first request)."""
    conn = await asyncpg.connect(url)
    try:
        pids = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'lib-analytics-core api'"
            " AND datname = current_database()"
        )
    finally:
        await conn.close()
    total = 0.0
    for row in pids:
        try:
            t = psutil.Process(row["pid"]).cpu_times()
            total += t.user + t.system
        except psutil.Error:
            continue
    return total


async def _load(  # noqa: PLR0917 - one measured run's settings and totals
    base: str,
    clients: int,
    seconds: float,
    services: list[str],
    procs: int,
    server_pid: int,
    url: str,
    kind: str = "keepalive",
) -> dict[str, Any]:
    """The load from ``procs`` client processes plus a prober process (spawned: each
    gets its own interpreter, event loop and GIL, so the generator's own CPU cost is
    spread and visible, not hidden in the server's numbers). Also where the machine's
    CPU went during the span: the API's processes, its PostgreSQL backends, the load
    generator, idle and steal (what explains one machine's numbers against another's)."""
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    begin = time.time() + 10.0  # spawned interpreters have imported and built clients
    span = (begin, begin + seconds)
    shares = [clients // procs + (i < clients % procs) for i in range(procs)]
    workers = [
        ctx.Process(
            target=_clients_process,
            args=(base, sum(shares[:i]), n, span, services, out, kind),
        )
        for i, n in enumerate(shares)
        if n
    ]
    workers.append(ctx.Process(target=_prober_process, args=(base, span, out)))
    for w in workers:
        w.start()

    async def account() -> dict[str, float]:
        await asyncio.sleep(max(0.0, begin - time.time()))
        cpu0, m0 = _server_cpu_s(server_pid), _machine_jiffies()
        await asyncio.sleep(max(0.0, begin + seconds - time.time()))
        cpu1, m1 = _server_cpu_s(server_pid), _machine_jiffies()
        total = max(1, m1[0] - m0[0])
        return {
            "server_cpu_s": cpu1 - cpu0,
            "postgres_cpu_s": await _postgres_cpu_s(url),
            "idle_pct": 100 * (m1[1] - m0[1]) / total,
            "steal_pct": 100 * (m1[2] - m0[2]) / total,
        }

    accounting = asyncio.create_task(account())
    results = [await asyncio.to_thread(out.get) for _ in workers]
    cpu = await accounting
    for w in workers:
        w.join()
    elapsed = seconds
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    per_route: dict[str, list[float]] = {}
    health: list[float] = []
    health_bad = 0
    generator_cpu_s = 0.0
    for r in results:
        if len(r) == 2:
            health, health_bad = r
            continue
        lat, st, routes, spent = r
        generator_cpu_s += spent
        latencies += lat
        for code, n in st.items():
            statuses[code] = statuses.get(code, 0) + n
        for path, acc in routes.items():
            mine = per_route.setdefault(path, [0, 0, 0.0])
            for i in range(3):
                mine[i] += acc[i]
    s = summarize(latencies)
    hs = summarize(health)
    return {
        "api_clients": clients,
        "api_client_processes": len(workers) - 1,
        "api_client": kind,
        "api_requests": len(latencies),
        "api_req_per_s": round(len(latencies) / elapsed, 1),
        "api_p50_ms": round(s.p50, 1),
        "api_p95_ms": round(s.p95, 1),
        "api_p99_ms": round(sorted(latencies)[int(0.99 * (len(latencies) - 1))], 1),
        "api_non_200": sum(n for code, n in statuses.items() if code != 200),
        "healthz_p50_ms": round(hs.p50, 1),
        "healthz_max_ms": round(max(health), 1),
        "healthz_non_200": health_bad,
        # Where the 2 cores went during the span (ms of CPU per answered request).
        "server_cpu_ms_per_req": round(1000 * cpu["server_cpu_s"] / max(1, len(latencies)), 2),
        "postgres_cpu_ms_per_req": round(1000 * cpu["postgres_cpu_s"] / max(1, len(latencies)), 2),
        "generator_cpu_ms_per_req": round(1000 * generator_cpu_s / max(1, len(latencies)), 2),
        "machine_idle_pct": round(cpu["idle_pct"], 1),
        "machine_steal_pct": round(cpu["steal_pct"], 1),
        "api_routes": {
            path: {
                "requests": int(n),
                "kb_per_response": round(b / n / 1024, 1),
                "mean_ms": round(t / n, 1),
            }
            for path, (n, b, t) in sorted(per_route.items())
        },
    }


async def _serve_and_load(  # noqa: PLR0917 - one measured run's settings
    url: str,
    clients: int,
    seconds: float,
    services: list[str],
    cache_ttl_s: float,
    profile: str | None,
    procs: int = 2,
    workers: int = 1,
    kind: str = "keepalive",
) -> dict[str, Any]:
    port = _free_port()
    cmd = _server_command(url, port, cache_ttl_s, workers)
    if profile:  # py-spy (bench extra) samples the server (and its workers) for the load
        spy = shutil.which("py-spy", path=os.path.dirname(sys.executable)) or "py-spy"
        cmd = [spy, "record", "--subprocesses", "-f", "raw", "-o", profile, "-r", "50", "--", *cmd]
    env = dict(os.environ, ANALYTICS_API_TOKEN=TOKEN)
    server = subprocess.Popen(cmd, env=env, start_new_session=True)  # noqa: ASYNC220 - once, before the measured load
    try:
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base) as http:
            for _ in range(100):
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        return await _load(base, clients, seconds, services, procs, server.pid, url, kind)
    finally:
        # The whole group: py-spy writes its profile on SIGINT, uvicorn's supervisor and
        # its workers shut down on it (signalled alone, py-spy left the workers running).
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)


async def run(  # noqa: PLR0917 - the command line's settings
    admin_url: str,
    days: int,
    clients: int,
    seconds: float,
    profile: str | None = None,
    cache_ttl_s: float = DEFAULT_CACHE_TTL_S,
    baseline: bool = False,
    procs: int = 2,
    workers: int = 1,
    kind: str = "keepalive",
) -> tuple[str, dict[str, Any]]:
    async with bench_database(admin_url) as url:
        t0 = time.perf_counter()
        result = await simulate(url, SimulationConfig(days=days, seed=42))
        conn = await asyncpg.connect(url)
        try:
            await refresh_aggregates(conn, start=result.start)
            services = [
                r["service"]
                for r in await conn.fetch("SELECT DISTINCT service FROM analytics_api_day_service")
            ]
        finally:
            await conn.close()
        setup_s = time.perf_counter() - t0
        # The baseline (no response cache) first, then the API as shipped, in one run.
        before = (
            await _serve_and_load(url, clients, seconds, services, 0.0, None, procs, workers, kind)
            if baseline
            else None
        )
        res = await _serve_and_load(
            url, clients, seconds, services, cache_ttl_s, profile, procs, workers, kind
        )
    res["api_cache_ttl_s"] = cache_ttl_s
    res["api_workers"] = workers
    if before is not None:
        res.update({f"baseline_{k}": v for k, v in before.items() if k != "api_routes"})
    res["api_events"] = result.written
    res["api_setup_s"] = round(setup_s, 1)
    text = table(
        f"Benchmark 5: HTTP API, {clients} clients replaying the dashboard's requests for "
        f"{seconds:g} s ({result.written:,} demo events over {days} days)",
        ["measure", "value", "target"],
        [
            ["requests/s", res["api_req_per_s"], ">= 600"],
            ["p50 ms", res["api_p50_ms"], ""],
            ["p95 ms", res["api_p95_ms"], ""],
            ["p99 ms", res["api_p99_ms"], "<= 250"],
            ["non-200 answers", res["api_non_200"], "0"],
            ["/healthz p50 ms", res["healthz_p50_ms"], ""],
            ["/healthz max ms", res["healthz_max_ms"], "< 100"],
            ["/healthz non-200", res["healthz_non_200"], "0"],
            ["API CPU ms / request", res["server_cpu_ms_per_req"], ""],
            ["its PostgreSQL CPU ms / request", res["postgres_cpu_ms_per_req"], ""],
            ["load generator CPU ms / request", res["generator_cpu_ms_per_req"], ""],
            ["machine idle / steal %", f"{res['machine_idle_pct']} / "
             f"{res['machine_steal_pct']}", ""],
        ],
    )  # fmt: skip
    if before is not None:
        text += "\n\n" + table(
            "Baseline in the same run: no response cache (cache_ttl_s=0)",
            ["measure", "value"],
            [
                ["requests/s", before["api_req_per_s"]],
                ["p99 ms", before["api_p99_ms"]],
                ["/healthz p50 ms", before["healthz_p50_ms"]],
                ["/healthz max ms", before["healthz_max_ms"]],
                ["non-200", before["api_non_200"]],
                ["API CPU ms / request", before["server_cpu_ms_per_req"]],
                ["its PostgreSQL CPU ms / request", before["postgres_cpu_ms_per_req"]],
                ["load generator CPU ms / request", before["generator_cpu_ms_per_req"]],
                [
                    "machine idle / steal %",
                    f"{before['machine_idle_pct']} / {before['machine_steal_pct']}",
                ],
            ],
        )
    text += "\n\n" + table(
        "Per route (the dashboard's mix)",
        ["route", "requests", "KB per response", "mean ms"],
        [
            [p, r["requests"], r["kb_per_response"], r["mean_ms"]]
            for p, r in res["api_routes"].items()
        ],
    )
    return text, res


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--database-url", help="admin DSN (default: DATABASE_URL or local)")
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--py-spy", metavar="FILE", help="profile the server into FILE (raw)")
    p.add_argument(
        "--cache-ttl",
        type=float,
        default=DEFAULT_CACHE_TTL_S,
        help=f"the API's response cache in seconds (default {DEFAULT_CACHE_TTL_S}; 0 = off)",
    )
    p.add_argument(
        "--baseline", action="store_true", help="first measure with the cache off, same data"
    )
    p.add_argument(
        "--procs", type=int, default=2, help="load-generator processes (default 2; +1 prober)"
    )
    p.add_argument(
        "--workers",
        type=int,
        default=DEFAULT_WORKERS,
        help=f"analytics-api --workers (default {DEFAULT_WORKERS})",
    )
    p.add_argument(
        "--client",
        choices=sorted(CLIENTS),
        default="keepalive",
        help="the load generator's HTTP client (default keepalive: a minimal HTTP/1.1 one)",
    )
    args = p.parse_args()
    text, res = asyncio.run(
        run(
            database_url(args.database_url),
            args.days,
            args.clients,
            args.seconds,
            args.py_spy,
            args.cache_ttl,
            args.baseline,
            args.procs,
            args.workers,
            args.client,
        )
    )
    print(text)
    print(json.dumps(res), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
