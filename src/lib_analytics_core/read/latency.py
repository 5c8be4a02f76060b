"""API traffic: request counts, 4xx/5xx and p50/p95/p99 latency per bucket and group.

The one latency question (granularity x group_by x filters x range) is answered from the
rollup whose grain matches it (migration 0004, ``docs/schema.md``): the coarsest level
holding every column the question groups or filters by, at the width of its
granularity. A series at that grain reads precomputed percentile keys; anything coarser
merges the stored sparse histograms (exact) and takes the percentiles of the sum.
"""

from __future__ import annotations

import datetime as _dt
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import asyncpg

from .._errors import QueryError
from . import histogram as _histogram
from ._common import (
    _DAY,
    _HOUR,
    DEFAULT_LIMIT,
    MAX_DAILY_RANGE,
    MAX_HOURLY_RANGE,
    MAX_LIMIT,
    _capped,
    _ceil,
    _days,
    _dt_or_none,
    _fetch,
    _filter,
    _limit,
    _max_ms,
    _range,
    _ratio,
)

__all__ = ["ApiLatencyRow", "Granularity", "LatencyGroupBy", "api_latency"]

Granularity = Literal["hour", "day", "total"]
LatencyGroupBy = Literal["total", "service", "endpoint"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiLatencyRow:
    """API traffic in one bucket (``None`` for ``granularity="total"``) and group.

    ``service``/``endpoint``/``method`` are ``None`` when not grouped by them.
    ``requests`` counts stored rows; ``requests_estimated`` scales sampled rows back
    (sum of 1/sample_rate). Rates and percentiles are over the stored rows.
    """

    bucket: _dt.datetime | None
    service: str | None
    endpoint: str | None
    method: str | None
    requests: int
    requests_estimated: float
    errors_4xx: int
    errors_5xx: int
    error_rate: float | None
    avg_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: int | None


_GROUP_COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "total": (),
    "service": ("service",),
    "endpoint": ("service", "endpoint", "method"),
}
_COUNT_COLUMNS: Final = (
    "coalesce(sum(requests), 0)::bigint AS requests, "
    "coalesce(sum(requests_estimated), 0)::float8 AS requests_estimated, "
    "coalesce(sum(errors_4xx), 0)::bigint AS errors_4xx, "
    "coalesce(sum(errors_5xx), 0)::bigint AS errors_5xx, "
    "coalesce(sum(duration_count), 0)::bigint AS duration_count, "
    "coalesce(sum(duration_sum_ms), 0)::float8 AS duration_sum_ms, "
    "max(duration_max_ms) AS duration_max_ms"
)


def _latency_range(
    start: _dt.date | _dt.datetime, end: _dt.date | _dt.datetime, granularity: Granularity
) -> tuple[_dt.datetime, _dt.datetime, str]:
    """Validated bucket-aligned bounds and the rollup width ("hour"/"day") to read."""
    if granularity == "day":
        lo, hi = _range(start, end, MAX_DAILY_RANGE)
        return _ceil(lo, _DAY), _ceil(hi, _DAY), "day"
    if granularity == "hour":
        lo, hi = _range(start, end, MAX_HOURLY_RANGE)
        return _ceil(lo, _HOUR), _ceil(hi, _HOUR), "hour"
    lo, hi = _range(start, end, MAX_DAILY_RANGE)
    aligned = _ceil(lo, _DAY) == lo and _ceil(hi, _DAY) == hi
    if not aligned and hi - lo > MAX_HOURLY_RANGE:
        raise QueryError(
            f"a 'total' over more than {_days(MAX_HOURLY_RANGE)} must start and end at "
            "midnight UTC (whole days)"
        )
    return _ceil(lo, _HOUR), _ceil(hi, _HOUR), "day" if aligned else "hour"


def _rollup_for(group_by: str, filters: dict[str, str | None]) -> tuple[str, tuple[str, ...]]:
    """The coarsest rollup level holding every column the question groups or filters by.

    Reading ``total`` for an all-services chart, ``service`` for a per-service one, and the
    endpoint grain only when endpoints or methods are asked about keeps the rows read
    proportional to the rows returned.
    """
    needed = set(_GROUP_COLUMNS[group_by]) | {c for c, v in filters.items() if v is not None}
    if needed & {"endpoint", "method"}:
        return "endpoint", _GROUP_COLUMNS["endpoint"]
    if "service" in needed:
        return "service", _GROUP_COLUMNS["service"]
    return "total", ()


def _latency_sql(
    table: str, *, group_cols: list[str], where: list[str], precomputed: bool, limit_arg: int
) -> str:
    """SQL for one latency question.

    ``precomputed``: every dimension of the rollup is grouped by or fixed by a filter, so
    each output row is exactly one stored row, read with its percentile keys (at most
    ``$limit_arg`` rows). Otherwise the stored rows are returned ordered by the output
    group, with their histograms, for :func:`_merge_latency` (measured: merging in Python
    costs half of ``unnest`` + ``GROUP BY key`` in SQL at 1M events, 90 days by endpoint).
    """
    keys = [
        "bucket" if "bucket" in group_cols else "NULL::timestamptz AS bucket",
        *(
            c if c in group_cols else f"NULL::text AS {c}"
            for c in ("service", "endpoint", "method")
        ),
    ]
    order = f"ORDER BY {', '.join(group_cols)}" if group_cols else ""
    counts = (
        "requests, requests_estimated, errors_4xx, errors_5xx, duration_count, "
        "duration_sum_ms, duration_max_ms"
    )
    if precomputed:
        return f"""
SELECT {", ".join(keys)}, {counts}, p50_key, p95_key, p99_key
FROM {table}
WHERE {" AND ".join(where)}
{order}
LIMIT ${limit_arg}
"""
    return f"""
SELECT {", ".join(keys)}, {counts}, hist_keys, hist_counts
FROM {table}
WHERE {" AND ".join(where)}
{order}
"""


def _latency_row(r: Any, pcts: Sequence[float | None], **totals: Any) -> ApiLatencyRow:
    requests = int(totals["requests"])
    e4, e5 = int(totals["errors_4xx"]), int(totals["errors_5xx"])
    top = _max_ms(totals["duration_max_ms"])
    return ApiLatencyRow(
        bucket=_dt_or_none(r["bucket"]),
        service=r["service"],
        endpoint=r["endpoint"],
        method=r["method"],
        requests=requests,
        requests_estimated=float(totals["requests_estimated"]),
        errors_4xx=e4,
        errors_5xx=e5,
        error_rate=_ratio(e4 + e5, requests),
        avg_ms=_ratio(float(totals["duration_sum_ms"]), int(totals["duration_count"])),
        p50_ms=_capped(pcts[0], top),
        p95_ms=_capped(pcts[1], top),
        p99_ms=_capped(pcts[2], top),
        max_ms=top,
    )


_SUMMED: Final = (
    "requests",
    "requests_estimated",
    "errors_4xx",
    "errors_5xx",
    "duration_count",
    "duration_sum_ms",
)


def _merge_latency(
    records: list[asyncpg.Record], group_cols: list[str], limit: int
) -> list[ApiLatencyRow]:
    """Sum the counts and merge the histograms of consecutive rows of one output group."""
    out: list[ApiLatencyRow] = []
    for _key, group in itertools.groupby(records, key=lambda r: tuple(r[c] for c in group_cols)):
        rows = list(group)
        totals: dict[str, Any] = {c: sum(r[c] for r in rows) for c in _SUMMED}
        maxima = [r["duration_max_ms"] for r in rows if r["duration_max_ms"] is not None]
        totals["duration_max_ms"] = max(maxima) if maxima else None
        keys, counts = _histogram.merge((r["hist_keys"], r["hist_counts"]) for r in rows)
        out.append(_latency_row(rows[0], _histogram.percentiles(keys, counts, _QS), **totals))
        if len(out) >= limit:
            break
    return out


_QS: Final = (0.50, 0.95, 0.99)


async def api_latency(
    db: asyncpg.Pool[Any] | asyncpg.Connection[Any],
    *,
    start: _dt.date | _dt.datetime,
    end: _dt.date | _dt.datetime,
    granularity: Granularity = "hour",
    group_by: LatencyGroupBy = "service",
    service: str | None = None,
    endpoint: str | None = None,
    method: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> list[ApiLatencyRow]:
    """Request counts, 4xx/5xx and p50/p95/p99 latency per bucket and group.

    ``granularity="hour"`` reads hourly rollups (ranges up to :data:`MAX_HOURLY_RANGE`),
    ``"day"`` daily ones (up to :data:`MAX_DAILY_RANGE`), ``"total"`` one row per group for
    the whole range (daily rollups when the range is whole days, hourly ones otherwise).
    The rollup level (all services, per service, per endpoint) is the coarsest that holds
    the group-by and filter columns. Percentiles are within 1 % of the exact values
    (:mod:`.histogram`); merging histograms is exact, never an average of percentiles.
    ``avg_ms`` is over the requests with a usable duration. Rows are ordered by bucket,
    then by the group columns; at most ``limit`` are returned.
    """
    if granularity not in ("hour", "day", "total"):
        raise QueryError(f"granularity must be 'hour', 'day' or 'total', not {granularity!r}")
    if group_by not in _GROUP_COLUMNS:
        raise QueryError(f"group_by must be 'total', 'service' or 'endpoint', not {group_by!r}")
    lim = _limit(limit, MAX_LIMIT)
    filters = {
        "service": _filter(service, "service"),
        "endpoint": _filter(endpoint, "endpoint"),
        "method": None if method is None else _filter(method, "method"),
    }
    if filters["method"] is not None:
        filters["method"] = filters["method"].upper()

    lo, hi, width = _latency_range(start, end, granularity)
    if lo >= hi:
        return []
    level, dims = _rollup_for(group_by, filters)
    table = f"analytics_api_{width}_{level}"

    args: list[object] = [lo, hi]
    where = ["bucket >= $1", "bucket < $2"]
    for column, value in filters.items():
        if value is not None:
            args.append(value)
            where.append(f"{column} = ${len(args)}")
    group_cols = list(_GROUP_COLUMNS[group_by])
    if granularity != "total":
        group_cols.insert(0, "bucket")
    fixed = {c for c, v in filters.items() if v is not None}
    precomputed = "bucket" in group_cols and all(d in group_cols or d in fixed for d in dims)
    if precomputed:
        args.append(lim)
    sql = _latency_sql(
        table, group_cols=group_cols, where=where, precomputed=precomputed, limit_arg=len(args)
    )
    records = await _fetch(db, sql, *args)
    if not precomputed:
        return _merge_latency(records, group_cols, lim)
    return [_stored_row(r) for r in records]


def _stored_row(r: asyncpg.Record) -> ApiLatencyRow:
    """One stored rollup row as the answer row (the hot loop of long series: positional,
    no intermediate dict; the columns are those of the precomputed SELECT, in order)."""
    (bucket, service, endpoint, method, requests, est, e4, e5, n, dsum, dmax, k50, k95, k99) = r
    rep = _histogram.representative
    top = None if dmax is None else round(dmax)
    return ApiLatencyRow(
        bucket=bucket,
        service=service,
        endpoint=endpoint,
        method=method,
        requests=requests,
        requests_estimated=est,
        errors_4xx=e4,
        errors_5xx=e5,
        error_rate=(e4 + e5) / requests if requests else None,
        avg_ms=dsum / n if n else None,
        # Capped at the observed maximum (read/_common.py `_value` says why).
        p50_ms=None if k50 is None else _capped(rep(k50), top),
        p95_ms=None if k95 is None else _capped(rep(k95), top),
        p99_ms=None if k99 is None else _capped(rep(k99), top),
        max_ms=top,
    )
