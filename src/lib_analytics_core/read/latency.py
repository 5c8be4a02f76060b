"""The API latency series: request counts, 4xx/5xx and p50/p95/p99 latency per bucket
and group (``api_latency``, and its CSV export ``api_latency_csv``).

The one latency question (granularity x group_by x filters x range) is answered from the
rollup whose grain matches it (migration 0004, ``docs/schema.md``): the coarsest level
holding every column the question groups or filters by, at the width of its
granularity. A series at that grain reads precomputed percentile keys; anything coarser
merges the stored sparse histograms (exact) and takes the percentiles of the sum.
``granularity="total"`` is a range's total per group, from the running rows.

This module owns the question: its validation, the rollup choice and the series'
statements. The row and how rollup rows add up (merged groups, range totals) live in
:mod:`._latency_total`, below it, because the ranking of endpoints (:mod:`.endpoints`)
reads the same totals through :func:`api_latency`.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import asyncpg

from .._errors import QueryError
from ..schema.facts import api_rollup
from . import _csv, _exec
from . import histogram as _histogram
from ._common import (
    _DAY,
    _HOUR,
    DEFAULT_LIMIT,
    MAX_DAILY_RANGE,
    MAX_HOURLY_RANGE,
    MAX_LIMIT,
    _ceil,
    _days,
    _equals,
    _filter,
    _limit,
    _range,
    build_rows,
    epoch_sql,
    fast_rows,
)
from ._latency_total import _QS, ApiLatencyRow, _latency_row, _sum_counts, _total

__all__ = [
    "ApiLatencyRow",
    "Granularity",
    "LatencyGroupBy",
    "api_latency",
    "api_latency_csv",
]

Granularity = Literal["hour", "day", "total"]
LatencyGroupBy = Literal["total", "service", "endpoint"]


_build_series_row: Final = fast_rows(ApiLatencyRow, epoch="bucket")
"""``ApiLatencyRow`` from a series' stored row, its bucket as epoch seconds, without the
frozen ``__init__``'s per-field cost (``_common.fast_rows``)."""


_GROUP_COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "total": (),
    "service": ("service",),
    "endpoint": ("service", "endpoint", "method"),
}


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


def _value_sql(key: str) -> str:
    """``histogram.representative(key)`` in SQL, bit for bit: the same float8 formula
    ``2 * exp(k * LN_GAMMA) / (GAMMA + 1)`` with the same literals and the same libm
    ``exp`` (a test compares every value with Python's), and 0 for the zero bucket.
    The long series then need no per-row arithmetic in Python at all."""
    return (
        f"CASE WHEN {key} = {_histogram.ZERO_KEY} THEN 0::float8 WHEN {key} IS NOT NULL"
        f" THEN 2.0::float8 * exp({key}::float8 * {_histogram.LN_GAMMA!r}::float8)"
        f" / {_histogram.GAMMA + 1.0!r}::float8 END"
    )


def _capped_sql(value: str, present: str) -> str:
    """``_common._capped(value, max_ms)`` in SQL, bit for bit: ``round`` of a float8 is
    half-to-even like Python's (``max_ms`` is the same expression), ``least`` returns
    that float8, and a missing value or maximum leaves the value as it is. Rows of a
    series then go straight to ``_build_series_row``, with no Python per field.

    ``present``: an expression that is NULL exactly when ``value`` is (the bucket key):
    PostgreSQL does not share common subexpressions, so testing ``value`` itself would
    compute its ``exp`` twice per row."""
    return f"CASE WHEN {present} IS NOT NULL THEN least({value}, round(duration_max_ms)) END"


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
        # the bucket as epoch seconds, for _build_series_row; no alias, so ORDER BY
        # still names the column and the covering index's order serves it
        keys[0] = epoch_sql("bucket")
        return f"""
SELECT {", ".join(keys)}, requests, requests_estimated, errors_4xx, errors_5xx,
       CASE WHEN requests > 0 THEN (errors_4xx + errors_5xx)::float8 / requests END,
       CASE WHEN duration_count > 0 THEN duration_sum_ms / duration_count END,
       {_capped_sql(_value_sql("p50_key"), "p50_key")},
       {_capped_sql(_value_sql("p95_key"), "p95_key")},
       {_capped_sql(_value_sql("p99_key"), "p99_key")},
       round(duration_max_ms)::bigint
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


def _merge_latency(
    records: list[asyncpg.Record], group_cols: list[str], limit: int
) -> list[ApiLatencyRow]:
    """Sum the counts and merge the histograms of consecutive rows of one output group."""
    out: list[ApiLatencyRow] = []
    for _key, group in itertools.groupby(records, key=lambda r: tuple(r[c] for c in group_cols)):
        rows = list(group)
        totals = _sum_counts(rows)
        keys, counts = _histogram.merge((r["hist_keys"], r["hist_counts"]) for r in rows)
        out.append(_latency_row(rows[0], _histogram.percentiles(keys, counts, _QS), **totals))
        if len(out) >= limit:
            break
    return out


async def api_latency(
    db: _exec.Db,
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
    plan = _plan(start, end, granularity, group_by, service, endpoint, method, limit)
    if plan is None:
        return []
    if plan.total:
        return await _total(
            db,
            plan.lo,
            plan.hi,
            level=plan.level,
            dims=plan.dims,
            group_cols=plan.group_cols,
            filters=plan.filters,
            limit=plan.limit,
        )
    records = await _exec.fetch(db, "latency.api_latency", plan.sql, *plan.params.values)
    if not plan.precomputed:
        return _merge_latency(records, ["bucket", *plan.group_cols], plan.limit)
    return build_rows(_build_series_row, records)  # capped in SQL (_capped_sql)


@dataclass(frozen=True, slots=True)
class _Plan:
    """One latency question, validated and resolved to its rollup and statement."""

    lo: _dt.datetime
    hi: _dt.datetime
    level: str
    dims: tuple[str, ...]
    group_cols: list[str]
    filters: dict[str, str | None]
    limit: int
    total: bool
    precomputed: bool = False
    sql: str = ""
    params: _exec.Params = field(default_factory=_exec.Params)


def _plan(  # noqa: PLR0917 - api_latency's parameters, in its order
    start: _dt.date | _dt.datetime,
    end: _dt.date | _dt.datetime,
    granularity: Granularity,
    group_by: LatencyGroupBy,
    service: str | None,
    endpoint: str | None,
    method: str | None,
    limit: int,
) -> _Plan | None:
    """Validate an ``api_latency`` question and pick its rollup and statement (None: the
    range holds no bucket)."""
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
        return None
    level, dims = _rollup_for(group_by, filters)
    group_cols = list(_GROUP_COLUMNS[group_by])
    if granularity == "total":
        return _Plan(lo, hi, level, dims, group_cols, filters, lim, total=True)
    params = _exec.Params(lo, hi)
    where = ["bucket >= $1", "bucket < $2"]
    _equals(where, params, filters)
    fixed = {c for c, v in filters.items() if v is not None}
    precomputed = all(d in group_cols or d in fixed for d in dims)
    if precomputed:
        params.add(lim)
    sql = _latency_sql(
        api_rollup(width, level),
        group_cols=["bucket", *group_cols],
        where=where,
        precomputed=precomputed,
        limit_arg=len(params),
    )
    return _Plan(lo, hi, level, dims, group_cols, filters, lim, False, precomputed, sql, params)


async def api_latency_csv(
    db: _exec.Db,
    *,
    start: _dt.date | _dt.datetime,
    end: _dt.date | _dt.datetime,
    granularity: Granularity = "hour",
    group_by: LatencyGroupBy = "service",
    service: str | None = None,
    endpoint: str | None = None,
    method: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> AsyncIterator[bytes]:
    """:func:`api_latency`'s rows as CSV text (header: the :class:`ApiLatencyRow` fields),
    in chunks.

    A series read from stored rows (the long ones: 100,000 rows of ``hour x endpoint``)
    is written by the server itself from :func:`api_latency`'s own statement
    (``_exec.copy_csv``): no row becomes a Python object, memory holds a few chunks.
    Merged rows and totals are computed as :func:`api_latency` does (a few rows per
    group) and rendered here.
    """
    plan = _plan(start, end, granularity, group_by, service, endpoint, method, limit)
    if plan is not None and plan.precomputed and not plan.total:
        sql = plan.sql.replace(epoch_sql("bucket"), _csv.ISO_SQL.format("bucket"), 1)
        async for chunk in _exec.copy_csv(
            db, "latency.api_latency_csv", sql, *plan.params.values, columns=_FIELDS
        ):
            yield chunk
        return
    rows = await api_latency(
        db,
        start=start,
        end=end,
        granularity=granularity,
        group_by=group_by,
        service=service,
        endpoint=endpoint,
        method=method,
        limit=limit,
    )
    yield _csv.rows_csv(([getattr(r, f) for f in _FIELDS] for r in rows), _FIELDS)


_FIELDS: Final = tuple(f.name for f in dataclasses.fields(ApiLatencyRow))


#: The ranking's names, in :mod:`.endpoints` since the split (issue 25) and still
#: importable from here as ``docs/api.md`` listed them.
_MOVED_TO_ENDPOINTS: Final = frozenset(
    {"DEFAULT_TOP_ENDPOINTS", "MAX_TOP_ENDPOINTS", "EndpointRanking", "top_endpoints"}
)


def __getattr__(name: str) -> Any:
    """``read.latency.top_endpoints`` (and its constants) resolve to :mod:`.endpoints`,
    imported on first use: :mod:`.endpoints` imports this module, so a top-level import
    here would be a cycle."""
    if name in _MOVED_TO_ENDPOINTS:
        from . import endpoints  # noqa: PLC0415 - endpoints imports this module

        return getattr(endpoints, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
