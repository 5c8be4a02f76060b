"""Issue 20's read-path changes against the code they replaced, kept runnable: each
"before" is the earlier code path (or its SQL) swapped in for the run, so the gain stays
measurable on any loaded database (``bench_read_scale.py`` prints it beside the
questions; BENCHMARKS.md and benchmarks/HISTORY.md quote it).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Awaitable, Callable
from typing import Any

from _common import summarize

import lib_analytics_core as lac
from lib_analytics_core.read import _latency_total as tot
from lib_analytics_core.read import latency as lat
from lib_analytics_core.read._common import epoch_sql


def _total_sql_0007(level: str, dims: tuple[str, ...], where: list[str], edges: str | None) -> str:
    """The read of a latency total before migration 0009, kept for the side-by-side run:
    counts and maxima summed from every daily rollup row of the range (a ``GROUP BY``
    over 18,200 rows at 200 endpoints x 91 days), the running histograms of 0007 at its
    ends."""
    dim_list = ", ".join(dims)
    sel = f"{dim_list}, " if dims else ""
    filt = "".join(f" AND {w}" for w in where)
    cols = (
        "requests, requests_estimated, errors_4xx, errors_5xx, duration_count, "
        "duration_sum_ms, duration_max_ms"
    )
    parts = [
        f"SELECT {sel}{cols} FROM analytics_api_day_{level}"
        f" WHERE bucket >= $1 AND bucket < $2{filt}"
    ]
    if edges:
        parts.append(f"SELECT {sel}{cols} FROM analytics_api_hour_{level} WHERE {edges}{filt}")
    join = " AND ".join(f"t.{d} = c.{d}" for d in dims) or "TRUE"
    group = f"GROUP BY {dim_list}" if dims else "HAVING count(*) > 0"
    order = f"ORDER BY {dim_list}" if dims else ""
    return f"""
WITH c AS (
    SELECT {sel}{tot._COUNT_COLUMNS}
    FROM ({" UNION ALL ".join(parts)}) AS x
    {group}
)
SELECT c.*, h.hist_keys AS hk, h.hist_cum AS hc, l.hist_keys AS lk, l.hist_cum AS lc
FROM c
LEFT JOIN LATERAL (
    SELECT hist_keys, hist_cum FROM analytics_cum_api_{level} t
    WHERE {join} AND t.bucket < $2 ORDER BY t.bucket DESC LIMIT 1
) h ON $1 < $2
LEFT JOIN LATERAL (
    SELECT hist_keys, hist_cum FROM analytics_cum_api_{level} t
    WHERE {join} AND t.bucket < $1 ORDER BY t.bucket DESC LIMIT 1
) l ON $1 < $2
{order}
"""


async def side_by_side(conn: Any, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    """This issue's read-path changes against the code they replaced, runs interleaved
    in one process (so a busy machine slows both alike), 90 days, p50/p95 ms of 10.

    * total x endpoint: running distributions (0007) vs merging one daily histogram per
      endpoint and day in Python (the previous ``_merge_latency`` path);
    * hour x service: values computed in SQL and rows built by ``fast_rows`` vs the
      stored keys decoded in Python and the frozen dataclass ``__init__``;
    * total x endpoint and top_endpoints, 0009 vs 0007: counts and maximum from three
      probes of the running rows per endpoint vs summed from every daily row
      (``_total_sql_0007``, swapped in for the "before" runs);
    * hour x endpoint (100,000 rows): buckets decoded as ``timestamptz``, rows capped
      and built in Python with the collector running vs buckets as epoch seconds
      (``_common.epoch_sql``) and ``_common.build_rows`` of rows capped in SQL.
    """
    from lib_analytics_core.read import histogram as hist

    async def old_total() -> None:
        rows = await conn.fetch(
            "SELECT NULL::timestamptz AS bucket, service, endpoint, method, requests,"
            " requests_estimated, errors_4xx, errors_5xx, duration_count, duration_sum_ms,"
            " duration_max_ms, hist_keys, hist_counts FROM analytics_api_day_endpoint"
            " WHERE bucket >= $1 AND bucket < $2 ORDER BY service, endpoint, method",
            start,
            end,
        )
        lat._merge_latency(rows, ["service", "endpoint", "method"], 100_000)

    async def new_total() -> None:
        await lat.api_latency(
            conn, start=start, end=end, granularity="total", group_by="endpoint", limit=100_000
        )

    async def old_series() -> None:
        rows = await conn.fetch(
            "SELECT bucket, service, NULL::text AS endpoint, NULL::text AS method, requests,"
            " requests_estimated, errors_4xx, errors_5xx, duration_count, duration_sum_ms,"
            " duration_max_ms, p50_key, p95_key, p99_key FROM analytics_api_hour_service"
            " WHERE bucket >= $1 AND bucket < $2 ORDER BY bucket, service",
            start,
            end,
        )
        rep = hist.representative
        for r in rows:
            (b, sv, ep, m, req, est, e4, e5, n, dsum, dmax, k50, k95, k99) = r
            lat.ApiLatencyRow(
                bucket=b, service=sv, endpoint=ep, method=m, requests=req,
                requests_estimated=est, errors_4xx=e4, errors_5xx=e5,
                error_rate=(e4 + e5) / req if req else None, avg_ms=dsum / n if n else None,
                p50_ms=None if k50 is None else rep(k50),
                p95_ms=None if k95 is None else rep(k95),
                p99_ms=None if k99 is None else rep(k99),
                max_ms=None if dmax is None else round(dmax),
            )  # fmt: skip

    async def new_series() -> None:
        await lat.api_latency(
            conn, start=start, end=end, granularity="hour", group_by="service", limit=100_000
        )

    async def with_0007(call: Callable[[], Awaitable[object]]) -> None:
        current = tot._total_sql
        tot._total_sql = _total_sql_0007
        try:
            await call()
        finally:
            tot._total_sql = current

    async def total_0007() -> None:
        await with_0007(new_total)

    async def top() -> None:
        await lac.top_endpoints(conn, start, end)

    async def top_0007() -> None:
        await with_0007(top)

    hour_endpoint_sql = lat._latency_sql(
        "analytics_api_hour_endpoint",
        group_cols=["bucket", "service", "endpoint", "method"],
        where=["bucket >= $1", "bucket < $2"],
        precomputed=True,
        limit_arg=3,
    ).replace(epoch_sql("bucket"), "bucket", 1)

    async def old_hour_endpoint() -> None:
        # the rows as before build_rows/_capped_sql/epoch_sql: the bucket decoded as a
        # timestamptz, capped in Python, collector on (the SQL's own cap is
        # idempotent: the same values either way)
        make = tot._make_row
        _ = [make(*r) for r in await conn.fetch(hour_endpoint_sql, start, end, 100_000)]

    async def new_hour_endpoint() -> None:
        await lat.api_latency(
            conn, start=start, end=end, granularity="hour", group_by="endpoint", limit=100_000
        )

    out: dict[str, Any] = {}
    for name, old, new in (
        ("hour x endpoint, rows before vs after", old_hour_endpoint, new_hour_endpoint),
        ("total x endpoint", old_total, new_total),
        ("hour x service", old_series, new_series),
        ("total x endpoint, 0007 counts vs 0009", total_0007, new_total),
        ("top_endpoints, 0007 counts vs 0009", top_0007, top),
    ):
        await old()
        await new()
        t_old: list[float] = []
        t_new: list[float] = []
        for _ in range(10):
            for fn, acc in ((old, t_old), (new, t_new)):
                t0 = time.perf_counter()
                await fn()
                acc.append((time.perf_counter() - t0) * 1000)
        so, sn = summarize(t_old), summarize(t_new)
        out[name] = {
            "before_p50_ms": round(so.p50, 1),
            "before_p95_ms": round(so.p95, 1),
            "after_p50_ms": round(sn.p50, 1),
            "after_p95_ms": round(sn.p95, 1),
        }
    return out
