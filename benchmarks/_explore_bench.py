"""Issue 25's read paths at scale, each side by side with the straightforward SQL a person
would write for the same question (run in the same process, interleaved):

* explore over one event type (dense and sparse types, 77k to 1M rows in range);
* a user's timeline, a page of 100 newest first (and the next page by cursor);
* the drill-down (one endpoint's hourly series) and ``hour x endpoint`` over 7 days;
* a CSV export of a 100,000-row series through the real API server (a subprocess),
  rows per second and the server's memory growth, beside the JSON answer.

Used by ``bench_read_scale.py`` (``--issue25``); the figures go into its final JSON line
(``explore_p95_ms``, ``timeline_p95_ms``, ``export_rows_per_s``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
from _common import summarize

from lib_analytics_core.read import endpoints, latency, users
from lib_analytics_core.read import explore as ex

ORIGIN = "TIMESTAMPTZ '2000-01-03 00:00:00+00'"
RUNS = 10


async def _timed(fn: Callable[[], Awaitable[object]], runs: int = RUNS) -> dict[str, float]:
    await fn()  # warm-up
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        await fn()
        times.append((time.perf_counter() - t0) * 1000)
    s = summarize(times)
    return {"p50_ms": round(s.p50, 1), "p95_ms": round(s.p95, 1)}


async def _side_by_side(
    lib: Callable[[], Awaitable[object]], raw: Callable[[], Awaitable[object]], runs: int = RUNS
) -> dict[str, float]:
    """Interleaved runs of the library's call and the straightforward SQL."""
    await lib()
    await raw()
    t_lib: list[float] = []
    t_raw: list[float] = []
    for _ in range(runs):
        for fn, acc in ((lib, t_lib), (raw, t_raw)):
            t0 = time.perf_counter()
            await fn()
            acc.append((time.perf_counter() - t0) * 1000)
    a, b = summarize(t_lib), summarize(t_raw)
    return {
        "p50_ms": round(a.p50, 1),
        "p95_ms": round(a.p95, 1),
        "raw_p50_ms": round(b.p50, 1),
        "raw_p95_ms": round(b.p95, 1),
        "speedup_p50": round(b.p50 / a.p50, 2) if a.p50 else None,
    }


# ----------------------------------------------------------------------- explore


def _explore_cases(end: dt.datetime) -> list[tuple[str, dict[str, Any], str]]:
    """(name, explore kwargs, the straightforward SQL) per case; ``$1``/``$2`` the range."""
    day = dt.timedelta(days=1)
    dur = "(data->>'duration_ms')::numeric"
    return [
        (
            "api_request 13 d (~1M rows, dense), day x endpoint top 10: count, users, p95",
            {
                "start": end - 13 * day,
                "end": end,
                "event_type": "api_request",
                "group_by": ["endpoint"],
                "measures": ["count", "users", "p95:duration_ms"],
            },
            f"SELECT date_bin('1 day', \"timestamp\", {ORIGIN}), data->>'endpoint', count(*),"
            f" count(DISTINCT user_id), percentile_disc(0.95) WITHIN GROUP (ORDER BY {dur})"
            " FROM analytics_events WHERE event_type = 'api_request'"
            ' AND "timestamp" >= $1 AND "timestamp" < $2 GROUP BY 1, 2',
        ),
        (
            "database_query 90 d (~0.8M rows, 8 % of rows), per day: count, sum, p95",
            {
                "start": end - 90 * day,
                "end": end,
                "event_type": "database_query",
                "measures": ["count", "sum:duration_ms", "p95:duration_ms"],
            },
            f"SELECT date_bin('1 day', \"timestamp\", {ORIGIN}), count(*), sum({dur}),"
            f" percentile_disc(0.95) WITHIN GROUP (ORDER BY {dur})"
            " FROM analytics_events WHERE event_type = 'database_query'"
            ' AND "timestamp" >= $1 AND "timestamp" < $2 GROUP BY 1',
        ),
        (
            "auth_code_verified 90 d (~100k rows, 1 % of rows), day x success: count, users",
            {
                "start": end - 90 * day,
                "end": end,
                "event_type": "auth_code_verified",
                "group_by": ["success"],
                "measures": ["count", "users"],
            },
            f"SELECT date_bin('1 day', \"timestamp\", {ORIGIN}), data->>'success', count(*),"
            " count(DISTINCT user_id) FROM analytics_events"
            " WHERE event_type = 'auth_code_verified'"
            ' AND "timestamp" >= $1 AND "timestamp" < $2 GROUP BY 1, 2',
        ),
        (
            "api_request 1 d (~77k rows, dense), hour x service, status_code > 499: p99",
            {
                "start": end - day,
                "end": end,
                "event_type": "api_request",
                "granularity": "hour",
                "group_by": ["service"],
                "filters": ["status_code:gt:499"],
                "measures": ["count", "p99:duration_ms"],
            },
            f"SELECT date_bin('1 hour', \"timestamp\", {ORIGIN}), service, count(*),"
            f" percentile_disc(0.99) WITHIN GROUP (ORDER BY {dur}) FROM analytics_events"
            " WHERE event_type = 'api_request' AND (data->>'status_code')::int > 499"
            ' AND "timestamp" >= $1 AND "timestamp" < $2 GROUP BY 1, 2',
        ),
    ]


async def explore_figures(conn: asyncpg.Connection, end: dt.datetime) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, kwargs, raw_sql in _explore_cases(end):
        rows = await conn.fetchval(
            "SELECT count(*) FROM analytics_events WHERE event_type = $1"
            ' AND "timestamp" >= $2 AND "timestamp" < $3',
            kwargs["event_type"],
            kwargs["start"],
            kwargs["end"],
        )

        async def lib(kw: dict[str, Any] = kwargs) -> object:
            return await ex.explore(conn, **kw)

        async def raw(sql: str = raw_sql, kw: dict[str, Any] = kwargs) -> object:
            return await conn.fetch(sql, kw["start"], kw["end"])

        out[name] = {"rows_in_range": int(rows), **await _side_by_side(lib, raw, runs=6)}
    return out


# ---------------------------------------------------------------------- timeline


async def timeline_figures(conn: asyncpg.Connection) -> dict[str, Any]:
    """Pages of 100 for users from the heaviest to the lightest (ids are skewed)."""
    ids = await conn.fetch(
        "SELECT user_id, count(*) AS n FROM analytics_events"
        " WHERE user_id IN (SELECT ('00000000-0000-4000-8000-' || lpad(k::text, 12, '0'))::uuid"
        " FROM unnest(ARRAY[0, 1, 10, 100, 1000, 5000, 20000, 50000, 90000]) AS k)"
        " GROUP BY user_id ORDER BY n DESC"
    )
    lib_times: list[float] = []
    raw_times: list[float] = []
    second_times: list[float] = []
    raw_sql = (
        'SELECT "timestamp", event_id, event_type, service, user_id, data FROM analytics_events'
        ' WHERE user_id = $1 ORDER BY "timestamp" DESC, event_id DESC LIMIT 100'
    )
    for r in ids:
        uid = r["user_id"]
        await users.user_timeline(conn, user_id=uid)
        for _ in range(6):
            t0 = time.perf_counter()
            page = await users.user_timeline(conn, user_id=uid, limit=100)
            t1 = time.perf_counter()
            await conn.fetch(raw_sql, uid)
            t2 = time.perf_counter()
            if page.next_before:
                await users.user_timeline(conn, user_id=uid, before=page.next_before)
            t3 = time.perf_counter()
            lib_times.append((t1 - t0) * 1000)
            raw_times.append((t2 - t1) * 1000)
            if page.next_before:
                second_times.append((t3 - t2) * 1000)
    a, b, c = summarize(lib_times), summarize(raw_times), summarize(second_times or [0.0])
    return {
        "users": {str(r["user_id"]): int(r["n"]) for r in ids},
        "page_p50_ms": round(a.p50, 2),
        "page_p95_ms": round(a.p95, 2),
        "next_page_p95_ms": round(c.p95, 2),
        "raw_p50_ms": round(b.p50, 2),
        "raw_p95_ms": round(b.p95, 2),
    }


# ------------------------------------------------------------- drill-down, 7 days


async def drilldown_figures(conn: asyncpg.Connection, end: dt.datetime) -> dict[str, Any]:
    """The drill-down's questions over 7 days, beside raw SQL that returns the same rows
    (fetched, like for like) and raw SQL that only counts them (the old benchmark's)."""
    lo = end - dt.timedelta(days=7)
    top = (await endpoints.top_endpoints(conn, start=lo, end=end, limit=1))[0]
    dur = "(data->>'duration_ms')::float8"
    raw_all = (
        f"SELECT date_bin('1 hour', \"timestamp\", {ORIGIN}) AS b, service, data->>'endpoint',"
        " data->>'method', count(*),"
        " count(*) FILTER (WHERE (data->>'status_code')::int BETWEEN 400 AND 499),"
        " count(*) FILTER (WHERE (data->>'status_code')::int >= 500),"
        f" avg({dur}), percentile_disc(0.5) WITHIN GROUP (ORDER BY {dur}),"
        f" percentile_disc(0.95) WITHIN GROUP (ORDER BY {dur}),"
        f" percentile_disc(0.99) WITHIN GROUP (ORDER BY {dur}), max({dur})"
        " FROM analytics_events WHERE event_type = 'api_request'"
        ' AND "timestamp" >= $1 AND "timestamp" < $2 {extra}'
        " GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
    )
    one = "AND service = $3 AND data->>'endpoint' = $4 AND data->>'method' = $5"
    out: dict[str, Any] = {}

    async def hour_endpoint() -> object:
        return await latency.api_latency(
            conn, start=lo, end=end, granularity="hour", group_by="endpoint", limit=100_000
        )

    async def raw_hour_endpoint() -> object:
        return await conn.fetch(raw_all.replace("{extra}", ""), lo, end)

    async def raw_hour_endpoint_count() -> object:
        return await conn.fetchval(
            f"SELECT count(*) FROM ({raw_all.replace('{extra}', '')}) x", lo, end
        )

    async def drill() -> object:
        return await latency.api_latency(
            conn,
            start=lo,
            end=end,
            granularity="hour",
            group_by="endpoint",
            service=top.service,
            endpoint=top.endpoint,
            method=top.method,
        )

    async def raw_drill() -> object:
        return await conn.fetch(
            raw_all.replace("{extra}", one), lo, end, top.service, top.endpoint, top.method
        )

    out["hour x endpoint 7 d (raw rows fetched)"] = await _side_by_side(
        hour_endpoint, raw_hour_endpoint, runs=6
    )
    out["hour x endpoint 7 d (raw only counted)"] = await _side_by_side(
        hour_endpoint, raw_hour_endpoint_count, runs=6
    )
    out["drill-down: one endpoint, hourly, 7 d"] = await _side_by_side(drill, raw_drill)
    return out


# --------------------------------------------------------------------- CSV export


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _api_server(url: str, token: str) -> Iterator[tuple[str, psutil.Process]]:
    port = _free_port()
    exe = Path(sys.executable).with_name("analytics-api")
    env = {**os.environ, "ANALYTICS_API_TOKEN": token}
    proc = subprocess.Popen(
        [str(exe), "--database-url", url, "--port", str(port), "--log-level", "warning",
         "--cache-ttl", "0"],
        env=env,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("analytics-api did not start")
            time.sleep(0.2)
        yield base, psutil.Process(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class _PeakRss:
    """The largest RSS of ``proc`` while the block runs (sampled every 5 ms)."""

    def __init__(self, proc: psutil.Process) -> None:
        self.proc = proc
        self.peak = proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __enter__(self) -> _PeakRss:
        self.base = self.proc.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def export_figures(url: str, end: dt.datetime) -> dict[str, Any]:
    """``/v1/api-latency`` hour x endpoint over 90 days (limit 100,000) as CSV, streamed,
    and the same rows as JSON: rows per second at the client and the server's peak RSS
    growth during each (three runs each, interleaved, best rate reported)."""
    token = "bench-export-token-0123456789abcdef"
    start = end - dt.timedelta(days=90)
    params = {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "granularity": "hour",
        "group_by": "endpoint",
        "limit": "100000",
    }
    headers = {"Authorization": f"Bearer {token}"}
    out: dict[str, Any] = {"csv": [], "json": []}
    with _api_server(url, token) as (base, proc), httpx.Client(timeout=300) as client:
        for _ in range(3):
            for fmt in ("csv", "json"):
                with _PeakRss(proc) as rss:
                    t0 = time.perf_counter()
                    rows = 0
                    with client.stream(
                        "GET", f"{base}/v1/api-latency", params={**params, "format": fmt},
                        headers=headers,
                    ) as r:  # fmt: skip
                        r.raise_for_status()
                        if fmt == "csv":
                            for _line in r.iter_lines():
                                rows += 1
                            rows -= 1  # the header
                        else:
                            rows = len(httpx.Response(200, content=r.read()).json()["rows"])
                    elapsed = time.perf_counter() - t0
                out[fmt].append(
                    {
                        "rows": rows,
                        "s": round(elapsed, 3),
                        "rows_per_s": round(rows / elapsed),
                        "server_rss_growth_mb": round((rss.peak - rss.base) / 2**20, 1),
                    }
                )
    best = max(out["csv"], key=lambda x: x["rows_per_s"])
    return {"export_rows_per_s": best["rows_per_s"], "runs": out}


async def issue25(url: str, end: dt.datetime) -> dict[str, Any]:
    conn = await asyncpg.connect(url)
    try:
        explore = await explore_figures(conn, end)
        timeline = await timeline_figures(conn)
        drill = await drilldown_figures(conn, end)
    finally:
        await conn.close()
    export = await asyncio.to_thread(export_figures, url, end)
    big = [v["p95_ms"] for v in explore.values() if v["rows_in_range"] > 100_000]
    small = [v["p95_ms"] for v in explore.values() if v["rows_in_range"] <= 100_000]
    return {
        "explore_p95_ms": max(big) if big else None,
        "explore_small_p95_ms": max(small) if small else None,
        "timeline_p95_ms": timeline["page_p95_ms"],
        "export_rows_per_s": export["export_rows_per_s"],
        "explore": explore,
        "timeline": timeline,
        "drilldown": drill,
        "export": export,
    }
