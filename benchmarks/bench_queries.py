"""Benchmarks 3 and 4: dashboard queries on the aggregates vs the same question from raw.

Raw events are generated server-side (``generate_series``, a production-like mix of
event types, users and payloads, spread uniformly over the last 91 days), with the
migrated schema's daily partitions created first. The three secondary indexes are
dropped during the bulk load and rebuilt from their own definitions afterwards (the
load is set-up, not what is measured). Then ``refresh_aggregates()`` (the library's
own refresh) fills the aggregates for the whole range.

Each dashboard query is the library's typed function from ``lib_analytics_core.read.queries``
(what the HTTP API calls), over the last 30 and 90 days, timed end to end (SQL +
decoding + percentile estimation). "From raw" answers the same question by computing the
aggregate rows it needs straight from ``analytics_events`` for the range: the
aggregate's own defining SELECT (as stored for the refresh), restricted to the range
(DAU/WAU/MAU: from 29 days before the range start, as its 30-day window needs).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable
from typing import Any

import _tier
import asyncpg
from _common import Summary, summarize, table

from lib_analytics_core.read import queries as q
from lib_analytics_core.read import questions as qq
from lib_analytics_core.schema.maintenance import refresh_aggregates

_META = '{"_meta": {"host": "bench-host-01", "env": "production", "release": "2026.05.1"}}'

# One row per event; event type chosen from r (uniform), fields from more randoms.
_LOAD_SQL = """
INSERT INTO analytics_events ("timestamp", event_id, event_type, service, user_id, data)
SELECT g.ts, gen_random_uuid(), t.et,
       CASE WHEN t.et IN ('api_request', 'database_query', 'application_error')
            THEN g.svc ELSE 'platform-api' END,
       CASE WHEN t.et IN ('webhook_received', 'webhook_processed') THEN NULL
            WHEN t.et = 'api_request' AND g.r2 < 0.1 THEN NULL ELSE g.uid END,
       (CASE t.et
          WHEN 'api_request' THEN jsonb_build_object(
               'service', g.svc, 'method',
                   (ARRAY['GET','GET','GET','POST','PATCH','DELETE'])[1 + (g.r3 * 6)::int % 6],
               'endpoint',
                   (ARRAY['/v1/projects','/v1/projects/{project_id}','/v1/projects/{project_id}/tasks',
                    '/v1/tasks/{task_id}','/v1/tasks/{task_id}/logs','/v1/cocoons','/v1/me',
                    '/v1/integrations','/v1/auth/login','/healthz'])[1 + (g.r4 * 10)::int % 10],
               'status_code', CASE WHEN g.r2 < 0.95 THEN 200 WHEN g.r2 < 0.975 THEN 404
                                   WHEN g.r2 < 0.99 THEN 400 ELSE 503 END,
               'duration_ms', g.dur, 'user_id', g.uid)
          WHEN 'database_query' THEN jsonb_build_object('service', g.svc, 'query_type', 'select',
               'duration_ms', greatest(1, g.dur / 8), 'table', 'tasks', 'rows', 12, 'success', true,
               'user_id', g.uid)
          WHEN 'task_completed' THEN jsonb_build_object('task_id', gen_random_uuid(), 'user_id',
              g.uid,
               'duration_ms', g.dur * 1000, 'exit_code', 0)
          WHEN 'task_failed' THEN jsonb_build_object('task_id', gen_random_uuid(), 'user_id', g.uid,
               'error', 'process exited with status 101', 'duration_ms', g.dur * 700,
                   'exit_code', 101)
          WHEN 'integration_used' THEN jsonb_build_object('provider',
               (ARRAY['github','gitlab','slack','linear','google'])[1 + (g.r3 * 5)::int % 5],
               'action', 'list_repos', 'duration_ms', g.dur * 5, 'success', g.r2 > 0.03,
                   'user_id', g.uid)
          WHEN 'integration_error' THEN jsonb_build_object('provider',
               (ARRAY['github','gitlab','slack','linear','google'])[1 + (g.r3 * 5)::int % 5],
               'error', 'upstream timed out', 'user_id', g.uid, 'status_code', 504)
          WHEN 'oauth_flow_completed' THEN jsonb_build_object('provider',
               (ARRAY['github','gitlab','slack','linear','google'])[1 + (g.r3 * 5)::int % 5],
               'success', g.r2 > 0.1, 'user_id', g.uid, 'duration_ms', g.dur * 20)
          WHEN 'auth_login_attempt' THEN jsonb_build_object('success', g.r2 > 0.1, 'method',
              'email_code',
               'user_id', g.uid, 'email', 'user@example.com')
          WHEN 'auth_code_verified' THEN jsonb_build_object('success', g.r2 > 0.05, 'user_id',
              g.uid)
          WHEN 'auth_token_refresh' THEN jsonb_build_object('success', g.r2 > 0.02, 'user_id',
              g.uid)
          WHEN 'auth_session_validated' THEN jsonb_build_object('valid', g.r2 > 0.03, 'user_id',
              g.uid)
          WHEN 'cocoon_disconnected' THEN jsonb_build_object('cocoon_id', gen_random_uuid(),
               'user_id', g.uid, 'session_duration_ms', g.dur * 60000)
          WHEN 'application_error' THEN jsonb_build_object('service', g.svc,
               'error_type',
                   (ARRAY['TimeoutError','DatabaseError','ValidationError'])
                   [1 + (g.r3 * 3)::int % 3],
               'message', 'upstream request to provider timed out after 30000 ms', 'severity',
                   'error',
               'user_id', g.uid)
          WHEN 'webhook_received' THEN jsonb_build_object('provider', 'github', 'webhook_type',
              'push',
               'payload_bytes', g.dur * 100)
          ELSE jsonb_build_object('task_id', gen_random_uuid(), 'user_id', g.uid, 'command',
              'cargo test')
        END) || '{_META}'::jsonb
FROM (
    SELECT $1::timestamptz + random() * ($2::timestamptz - $1::timestamptz) AS ts,
           random() AS r, random() AS r2, random() AS r3, random() AS r4,
           (ARRAY['platform-api','platform-api','auth','signaling','webhooks','scheduler'])
               [1 + (random() * 6)::int % 6] AS svc,
           ('00000000-0000-4000-8000-' || lpad((floor(power(random(), 2.5) * $4::int))::int::text,
               12, '0'))::uuid AS uid,
           greatest(1,
               (exp(ln(35) + 0.8 * sqrt(-2 * ln(1 - random()))
                    * cos(2 * pi() * random()))))::int AS dur
    FROM generate_series(1, $3)
) g,
LATERAL (SELECT CASE
    WHEN g.r < 0.70 THEN 'api_request'
    WHEN g.r < 0.78 THEN 'database_query'
    WHEN g.r < 0.80 THEN 'auth_login_attempt'
    WHEN g.r < 0.81 THEN 'auth_code_verified'
    WHEN g.r < 0.83 THEN 'auth_token_refresh'
    WHEN g.r < 0.85 THEN 'auth_session_validated'
    WHEN g.r < 0.865 THEN 'task_created'
    WHEN g.r < 0.88 THEN 'task_started'
    WHEN g.r < 0.892 THEN 'task_completed'
    WHEN g.r < 0.895 THEN 'task_failed'
    WHEN g.r < 0.897 THEN 'task_cancelled'
    WHEN g.r < 0.917 THEN 'integration_used'
    WHEN g.r < 0.920 THEN 'integration_error'
    WHEN g.r < 0.922 THEN 'integration_connected'
    WHEN g.r < 0.924 THEN 'oauth_flow_started'
    WHEN g.r < 0.926 THEN 'oauth_flow_completed'
    WHEN g.r < 0.931 THEN 'cocoon_connected'
    WHEN g.r < 0.936 THEN 'cocoon_disconnected'
    WHEN g.r < 0.937 THEN 'cocoon_registered'
    WHEN g.r < 0.947 THEN 'application_error'
    WHEN g.r < 0.957 THEN 'webhook_received'
    ELSE 'project_updated' END AS et) t
""".replace("{_META}", _META.replace("'", "''"))


def _day(t: dt.datetime) -> dt.datetime:
    return t.replace(hour=0, minute=0, second=0, microsecond=0)


#: Distinct user ids of the generated events (skewed: a few heavy users, a long tail).
DEFAULT_USERS = 20_000


async def load_raw(
    url: str,
    n: int,
    lo: dt.datetime,
    hi: dt.datetime,
    users: int = DEFAULT_USERS,
    *,
    refresh: bool = True,
) -> dict[str, Any]:
    """Add ``n`` raw events spread over ``[lo, hi)`` (two loader connections, one per core),
    from ``users`` distinct user ids; ``refresh=False`` leaves the aggregates alone (for
    benchmarks that read raw rows only)."""
    conn = await asyncpg.connect(url)
    t0 = time.perf_counter()
    try:
        # Daily partitions for the whole range (the migration pre-creates only a week).
        if await conn.fetchval("SELECT to_regproc('analytics_ensure_partition') IS NOT NULL"):
            d = _day(lo)
            while d < hi:
                await conn.execute("SELECT analytics_ensure_partition($1)", d)
                d += dt.timedelta(days=1)
        idx = await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'analytics_events' "
            "AND indexname <> 'analytics_events_pkey' AND indexdef NOT LIKE '%UNIQUE%'"
        )
        for r in idx:
            await conn.execute(f'DROP INDEX IF EXISTS "{r["indexname"]}"')
    finally:
        await conn.close()
    # One INSERT per day-chunk, two at a time.
    days: list[tuple[dt.datetime, dt.datetime]] = []
    d = lo
    while d < hi:
        days.append((d, min(hi, d + dt.timedelta(days=1))))
        d += dt.timedelta(days=1)
    per = n // len(days)
    extra = n - per * len(days)
    jobs = [(a, b, per + (1 if i < extra else 0)) for i, (a, b) in enumerate(days)]

    async def loader(k: int) -> None:
        c = await asyncpg.connect(url)
        try:
            for a, b, m in jobs[k::2]:
                await c.execute(_LOAD_SQL, a, b, m, users)
        finally:
            await c.close()

    await asyncio.gather(loader(0), loader(1))
    t_load = time.perf_counter()
    conn = await asyncpg.connect(url)
    try:
        for r in idx:
            # pg_indexes shows a partitioned table's index as "ON ONLY": run as shown it
            # would create an invalid index on the parent and none on the partitions
            await conn.execute(r["indexdef"].replace(" ON ONLY ", " ON ", 1))
        await conn.execute("ANALYZE analytics_events")
        t_idx = time.perf_counter()
        if refresh:
            await refresh_aggregates(conn, start=lo - dt.timedelta(days=1))
            await conn.execute("ANALYZE")
        t_ref = time.perf_counter()
        total = int(await conn.fetchval("SELECT count(*) FROM analytics_events"))
        size = str(
            await conn.fetchval("SELECT pg_size_pretty(pg_database_size(current_database()))")
        )
    finally:
        await conn.close()
    return {
        "rows_total": total,
        "load_s": round(t_load - t0, 1),
        "load_rows_per_s": round(n / (t_load - t0)),
        "index_s": round(t_idx - t_load, 1),
        "refresh_s": round(t_ref - t_idx, 1),
        "db_size": size,
    }


Query = Callable[[Any, dt.datetime, dt.datetime], Awaitable[Any]]

_BIN = "TIMESTAMPTZ '2000-01-03 00:00:00+00'"


def _raw_latency(width: str | None, dims: tuple[str, ...], where: str = "") -> str:
    """The exact answer to an api_latency question from raw rows: counts and nearest-rank
    p50/p95/p99 (``percentile_disc``) per bucket and group."""
    bucket = f"date_bin(INTERVAL '1 {width}', \"timestamp\", {_BIN})" if width else "NULL"
    cols = {"service": "service", "endpoint": "data->>'endpoint'", "method": "data->>'method'"}
    sel = "".join(f", {cols[d]} AS {d}" for d in dims)
    group = ", ".join(["1", *(str(i + 2) for i in range(len(dims)))])
    return f"""
SELECT {bucket} AS bucket{sel}, count(*) AS requests,
       count(*) FILTER (WHERE (data->>'status_code')::int BETWEEN 400 AND 499) AS e4,
       count(*) FILTER (WHERE (data->>'status_code')::int >= 500) AS e5,
       avg((data->>'duration_ms')::float8) AS avg_ms, max((data->>'duration_ms')::float8),
       percentile_disc(ARRAY[0.5, 0.95, 0.99])
           WITHIN GROUP (ORDER BY (data->>'duration_ms')::float8) AS pcts
FROM analytics_events
WHERE event_type = 'api_request' AND "timestamp" >= $1 AND "timestamp" < $2 {where}
GROUP BY {group}
"""


_RAW_TASK_PERCENTILES = f"""
SELECT date_bin(INTERVAL '1 day', "timestamp", {_BIN}) AS day,
       percentile_disc(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY (data->>'duration_ms')::float8)
FROM analytics_events
WHERE event_type IN ('task_completed', 'task_failed') AND "timestamp" >= $1
  AND "timestamp" < $2
GROUP BY 1
"""


def _raw_trends(width: str, where: str = "") -> str:
    """Events and distinct users per bucket, event type and service, from raw rows."""
    return f"""
SELECT date_bin(INTERVAL '1 {width}', "timestamp", {_BIN}) AS bucket, event_type, service,
       count(*) AS events, count(DISTINCT user_id) AS users
FROM analytics_events
WHERE "timestamp" >= $1 AND "timestamp" < $2 {where}
GROUP BY 1, 2, 3
"""


# The overview's other cards from raw rows: DAU of the last day, WAU/MAU, task success.
_RAW_OVERVIEW = """
SELECT count(DISTINCT user_id) FILTER (
           WHERE "timestamp" >= $2::timestamptz - INTERVAL '2 days'
             AND "timestamp" < $2::timestamptz - INTERVAL '1 day') AS dau,
       count(DISTINCT user_id) FILTER (
           WHERE "timestamp" >= $2::timestamptz - INTERVAL '8 days') AS wau,
       count(DISTINCT user_id) FILTER (
           WHERE "timestamp" >= $2::timestamptz - INTERVAL '31 days') AS mau,
       count(*) FILTER (WHERE event_type = 'task_completed') AS completed,
       count(*) FILTER (WHERE event_type = 'task_failed') AS failed
FROM analytics_events
WHERE "timestamp" >= $1 AND "timestamp" < $2
"""


def _latency(granularity: str, group_by: str, service: str | None = None) -> Query:
    return lambda db, a, b: q.api_latency(
        db,
        start=a,
        end=b,
        granularity=granularity,  # type: ignore[arg-type]
        group_by=group_by,  # type: ignore[arg-type]
        service=service,
        limit=q.MAX_LIMIT,
    )


def _ranges(name: str) -> tuple[int, ...]:
    """Range lengths (days) each question is measured at: the dashboard asks hourly
    series for its 24 h / 7 d presets and daily ones for 30 d / 90 d; 90 days is also the
    API's longest hourly range."""
    return (7, 90) if name.startswith("api_latency hour") else (30, 90)


def _dashboard_queries() -> list[tuple[str, Query, list[str]]]:
    """(name, typed call, how raw answers it) for every dashboard/API question.

    The raw side is a list of aggregate names (their defining SELECT, as stored for the
    refresh) or ``sql:`` exact queries. The latency questions are the dashboard's own
    (per-service lines and the request bars at its granularity, the KPI totals, with and
    without a service filter) plus the API's endpoint views.
    """
    dims = {"total": (), "service": ("service",), "endpoint": ("service", "endpoint", "method")}
    latency = [
        (f"api_latency {g} x {b}", _latency(g, b), [f"sql:{_raw_latency(w, dims[b])}"])
        for g, w in (("hour", "hour"), ("day", "day"), ("total", None))
        for b in ("total", "service", "endpoint")
    ] + [
        (
            f"api_latency {g} x total, service=auth",
            _latency(g, "total", "auth"),
            ["sql:" + _raw_latency(w, (), "AND service = 'auth'")],
        )
        for g, w in (("hour", "hour"), ("day", "day"), ("total", None))
    ]
    return [
        (
            "active_users (DAU/WAU/MAU)",
            lambda db, a, b: q.active_users(db, start=a, end=b),
            ["analytics_daily_active_users"],
        ),
        (
            "task_stats",
            lambda db, a, b: q.task_stats(db, start=a, end=b),
            ["analytics_task_stats_daily", f"sql:{_RAW_TASK_PERCENTILES}"],
        ),
        *latency,
        (
            "integration_health",
            lambda db, a, b: q.integration_health(db, start=a, end=b, by_day=False),
            ["analytics_integration_health_daily"],
        ),
        (
            "auth_metrics",
            lambda db, a, b: q.auth_metrics(db, start=a, end=b),
            ["analytics_auth_events_daily"],
        ),
        (
            "cocoon_activity",
            lambda db, a, b: q.cocoon_activity(db, start=a, end=b),
            ["analytics_cocoon_activity_daily"],
        ),
        (
            "errors (hourly series)",
            lambda db, a, b: q.errors(db, start=a, end=b, limit=q.MAX_LIMIT),
            ["analytics_errors_hourly"],
        ),
        (
            "top_errors",
            lambda db, a, b: q.top_errors(db, start=a, end=b, limit=10),
            ["analytics_errors_hourly"],
        ),
        (
            "top_endpoints (by p95)",
            lambda db, a, b: qq.top_endpoints(db, a, b, by="p95", limit=10),
            [f"sql:{_raw_latency(None, dims['endpoint'])}"],
        ),
        (
            "overview",
            qq.overview,
            ["sql:" + _raw_latency(None, ()), f"sql:{_RAW_OVERVIEW}"],
        ),
        (
            "event_trends day",
            lambda db, a, b: qq.event_trends(db, a, b, granularity="day", limit=q.MAX_LIMIT),
            [f"sql:{_raw_trends('day')}"],
        ),
        (
            "event_trends hour, event_type=api_request",
            lambda db, a, b: qq.event_trends(
                db, a, b, granularity="hour", event_type="api_request", limit=q.MAX_LIMIT
            ),
            ["sql:" + _raw_trends("hour", "AND event_type = 'api_request'")],
        ),
        (
            "list_event_types",
            lambda db, a, b: qq.list_event_types(db, since=a),
            [
                'sql:SELECT DISTINCT event_type FROM analytics_events WHERE "timestamp" >= $1'
                ' AND "timestamp" < $2'
            ],
        ),
        (
            "list_services",
            lambda db, a, b: q.list_services(db, since=a),
            [
                'sql:SELECT DISTINCT service FROM analytics_events WHERE "timestamp" >= $1'
                " AND \"timestamp\" < $2 AND event_type IN ('api_request', 'application_error')"
            ],
        ),
    ]


async def refresh_per_day(url: str, reps: int = 3) -> float:
    """Median seconds to recompute every aggregate for one full day of data (yesterday),
    on either tier (``_tier.refresh_day``)."""
    conn = await asyncpg.connect(url)
    try:
        now: dt.datetime = await conn.fetchval("SELECT now()")
        day = _day(now) - dt.timedelta(days=1)
        times: list[float] = []
        for _ in range(reps):
            t0 = time.perf_counter()
            await _tier.refresh_day(conn, day)
            times.append(time.perf_counter() - t0)
    finally:
        await conn.close()
    return sorted(times)[len(times) // 2]


async def _raw_sql(conn: Any) -> dict[str, str]:
    """The defining SELECT of each aggregate, by name ($1, $2 = the range), on either
    tier (the timescale tier has no analytics_aggregate_refresh table)."""
    from lib_analytics_core.schema.definitions import aggregate_definitions

    return {d.name: d.refresh_sql for d in await aggregate_definitions(conn)}


async def _time(
    fn: Callable[[], Awaitable[Any]], reps: int, budget_s: float, *, min_reps: int = 3
) -> Summary:
    """Up to ``reps`` timed runs after one warm-up (plan cache, buffers); stops once
    ``budget_s`` is spent and ``min_reps`` runs are done."""
    deadline = time.perf_counter() + budget_s
    await fn()
    out: list[float] = []
    for i in range(reps):
        t0 = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - t0) * 1000)
        if time.perf_counter() > deadline and i + 1 >= min_reps:
            break
    return summarize(out)


async def measure(url: str, reps: int, raw_reps: int, label: str) -> tuple[str, dict[str, Any]]:
    conn = await asyncpg.connect(url)
    try:
        now: dt.datetime = await conn.fetchval("SELECT now()")
        end = _day(now) + dt.timedelta(days=1)
        raw = await _raw_sql(conn)
        rows: list[list[object]] = []
        p95s: list[float] = []
        speedups: list[float] = []
        per_query: dict[str, Any] = {}
        for days in (7, 30, 90):
            start = end - dt.timedelta(days=days)
            for name, call, aggs in _dashboard_queries():
                if days not in _ranges(name):
                    continue

                async def from_aggregates(c: Query = call, a: dt.datetime = start) -> None:
                    await c(conn, a, end)

                s_agg = await _time(from_aggregates, reps, 8.0)

                async def from_raw(aggs: list[str] = aggs, a: dt.datetime = start) -> None:
                    for agg in aggs:
                        if agg == "analytics_api_latency_daily":
                            continue  # a rollup of the hourly one, computed just before
                        lo = (
                            a - dt.timedelta(days=29)
                            if agg == "analytics_daily_active_users"
                            else a
                        )
                        sql = agg.removeprefix("sql:") if agg.startswith("sql:") else raw[agg]
                        await conn.fetchval(f"SELECT count(*) FROM ({sql}) AS x", lo, end)

                s_raw = await _time(from_raw, raw_reps, 15.0, min_reps=1)
                speed = s_raw.median / s_agg.median
                rows.append([f"{name}", days, s_agg.p50, s_agg.p95, s_raw.p50, s_raw.p95, speed])
                p95s.append(s_agg.p95)
                speedups.append(speed)
                per_query[f"{name} {days}d"] = {
                    "p50_ms": round(s_agg.p50, 2),
                    "p95_ms": round(s_agg.p95, 2),
                    "raw_p50_ms": round(s_raw.p50, 1),
                    "speedup": round(speed, 1),
                }
    finally:
        await conn.close()
    text = table(
        f"Benchmark 3: dashboard queries{label} (ms; aggregates via read.queries "
        f"vs the same aggregate computed from raw events)",
        ["query", "days", "p50 ms", "p95 ms", "raw p50 ms", "raw p95 ms", "speed-up (p50)"],
        rows,
    )
    res = {
        "query_p95_ms_max": round(max(p95s), 2),
        "query_speedup_vs_raw": round(min(speedups), 1),
        "query_speedup_vs_raw_median": round(sorted(speedups)[len(speedups) // 2], 1),
        "queries": per_query,
    }
    return text, res
