"""API traffic: request counts, 4xx/5xx and p50/p95/p99 latency per bucket and group,
and the slowest (or busiest, or most failing) endpoints over a range.

The one latency question (granularity x group_by x filters x range) is answered from the
rollup whose grain matches it (migration 0004, ``docs/schema.md``): the coarsest level
holding every column the question groups or filters by, at the width of its
granularity. A series at that grain reads precomputed percentile keys; anything coarser
merges the stored sparse histograms (exact) and takes the percentiles of the sum.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import itertools
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import asyncpg

from .._errors import QueryError
from ..schema.facts import api_rollup, api_running
from . import _csv, _exec
from . import cumulative as _cumulative
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
    _equals,
    _filter,
    _limit,
    _max_ms,
    _range,
    _ratio,
    build_rows,
    epoch_sql,
    fast_rows,
)

__all__ = [
    "DEFAULT_TOP_ENDPOINTS",
    "MAX_TOP_ENDPOINTS",
    "ApiLatencyRow",
    "EndpointRanking",
    "Granularity",
    "LatencyGroupBy",
    "api_latency",
    "api_latency_csv",
    "top_endpoints",
]

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


_build_row: Final = fast_rows(ApiLatencyRow)
_build_series_row: Final = fast_rows(ApiLatencyRow, epoch="bucket")
"""``ApiLatencyRow`` from its fields in declaration order, without the frozen
``__init__``'s per-field cost (``_common.fast_rows``)."""


def _make_row(  # noqa: PLR0917 - the row's fields, in order
    bucket: Any,
    service: str | None,
    endpoint: str | None,
    method: str | None,
    requests: int,
    requests_estimated: float,
    errors_4xx: int,
    errors_5xx: int,
    error_rate: float | None,
    avg_ms: float | None,
    p50_ms: float | None,
    p95_ms: float | None,
    p99_ms: float | None,
    max_ms: int | None,
) -> ApiLatencyRow:
    """Every ``ApiLatencyRow`` is made here: its percentiles capped at its ``max_ms``
    (issue 20; ``_common._value`` says why the estimate can exceed it)."""
    return _build_row(
        bucket,
        service,
        endpoint,
        method,
        requests,
        requests_estimated,
        errors_4xx,
        errors_5xx,
        error_rate,
        avg_ms,
        _capped(p50_ms, max_ms),
        _capped(p95_ms, max_ms),
        _capped(p99_ms, max_ms),
        max_ms,
    )


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
    series then go straight to ``_build_row``, with no Python per field.

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


def _latency_row(r: Any, pcts: Sequence[float | None], **totals: Any) -> ApiLatencyRow:
    requests = int(totals["requests"])
    e4, e5 = int(totals["errors_4xx"]), int(totals["errors_5xx"])
    dmax = totals["duration_max_ms"]
    return _make_row(
        _dt_or_none(r["bucket"]),
        r["service"],
        r["endpoint"],
        r["method"],
        requests,
        float(totals["requests_estimated"]),
        e4,
        e5,
        _ratio(e4 + e5, requests),
        _ratio(float(totals["duration_sum_ms"]), int(totals["duration_count"])),
        pcts[0],
        pcts[1],
        pcts[2],
        _max_ms(dmax),
    )


#: The additive columns of a latency rollup row: summed when rows are merged, and the
#: ones migration 0009 keeps running (prefix) sums of, so a range total is a difference.
_COUNTS: Final = (
    "requests",
    "requests_estimated",
    "errors_4xx",
    "errors_5xx",
    "duration_count",
    "duration_sum_ms",
)


def _sum_counts(rows: Sequence[asyncpg.Record]) -> dict[str, Any]:
    """The counts of several rollup rows of one output group, summed, and their maximum."""
    totals: dict[str, Any] = {c: sum(r[c] for r in rows) for c in _COUNTS}
    maxima = [r["duration_max_ms"] for r in rows if r["duration_max_ms"] is not None]
    totals["duration_max_ms"] = max(maxima) if maxima else None
    return totals


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


_QS: Final = (0.50, 0.95, 0.99)


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


# ------------------------------------------------------------- totals over a range


def _total_sql(level: str, dims: tuple[str, ...], where: list[str], edges: str | None) -> str:
    """Counts, maximum and running rows per rollup group over the range (migrations 0007
    and 0009). ``$1``/``$2``: the whole days; ``edges``: the condition selecting the
    partial hours around them (None if there are none).

    The groups are the running table's, listed by a skip scan of its primary key (one
    index descent per group, not a read of its rows). Per group three probes: ``h``, its
    last row before ``$2`` (inside the range, else the group has no whole day there),
    ``l``, its last row before ``$1``, and ``f``, its first row from ``$1``; the counts
    are ``h - l``, the maximum the sparse tables' two windows covering ``[f, h]``
    (``max_fwd``/``max_bwd``, see 0009's header), plus the edge hours' own rows.
    """
    filt = "".join(f" AND {w}" for w in where)
    cum = api_running(level)
    if dims:
        gcols = ", ".join(f"g_{d}" for d in dims)
        tcols = ", ".join(f"t.{d}" for d in dims)
        dim_list = ", ".join(dims)
        first = f"(SELECT {dim_list} FROM {cum} WHERE TRUE{filt} ORDER BY {dim_list} LIMIT 1)"
        step = (
            f"SELECT n.* FROM grp, LATERAL (SELECT {tcols} FROM {cum} AS t"
            f" WHERE ({tcols}) > ({gcols}){filt} ORDER BY {tcols} LIMIT 1) AS n"
        )
        groups = f"RECURSIVE grp({gcols}) AS ({first} UNION ALL {step})"
        join = " AND ".join(f"t.{d} = grp.g_{d}" for d in dims)
        out_dims = ", ".join(f"grp.g_{d} AS {d}" for d in dims) + ", "
        order = f"ORDER BY {dim_list}"
    else:
        groups, join, out_dims, order = "grp AS (SELECT 1)", "TRUE", "", ""
    running = ", ".join(_COUNTS)
    edge_cte, edge_join = "", ""
    if edges:
        sel = "".join(f"{d}, " for d in dims)
        group = f"GROUP BY {', '.join(dims)}" if dims else "HAVING count(*) > 0"
        edge_cte = (
            f", e AS (SELECT {sel}{_COUNT_COLUMNS} FROM {api_rollup('hour', level)}"
            f" WHERE {edges}{filt} {group})"
        )
        on = " AND ".join(f"e.{d} = grp.g_{d}" for d in dims) or "TRUE"
        edge_join = f"LEFT JOIN e ON {on}"

    def count(c: str, cast: str) -> str:
        whole = f"h.{c} - coalesce(l.{c}, 0)"
        extra = f" + coalesce(e.{c}, 0)" if edges else ""
        return f"(coalesce({whole}, 0){extra})::{cast} AS {c}"

    counts = ", ".join(
        count(c, "float8" if c in ("requests_estimated", "duration_sum_ms") else "bigint")
        for c in _COUNTS
    )
    level_j = (
        "(floor(ln((extract(epoch FROM h.bucket - f.bucket) / 86400 + 1)::float8)"
        " / ln(2::float8) + 1e-9))::int + 1"
    )
    whole_max = "CASE WHEN h.bucket IS NOT NULL THEN greatest(f.max_fwd[j.j], h.max_bwd[j.j]) END"
    dmax = f"greatest({whole_max}, e.duration_max_ms)" if edges else whole_max
    present = "h.bucket IS NOT NULL" + (" OR e.requests IS NOT NULL" if edges else "")
    return f"""
WITH {groups}{edge_cte}
SELECT {out_dims}{counts}, {dmax} AS duration_max_ms,
       h.hist_keys AS hk, h.hist_cum AS hc, l.hist_keys AS lk, l.hist_cum AS lc
FROM grp
LEFT JOIN LATERAL (
    SELECT bucket, hist_keys, hist_cum, max_bwd, {running} FROM {cum} t
    WHERE {join} AND t.bucket >= $1 AND t.bucket < $2 ORDER BY t.bucket DESC LIMIT 1
) h ON $1 < $2
LEFT JOIN LATERAL (
    SELECT hist_keys, hist_cum, {running} FROM {cum} t
    WHERE {join} AND t.bucket < $1 ORDER BY t.bucket DESC LIMIT 1
) l ON h.bucket IS NOT NULL
LEFT JOIN LATERAL (
    SELECT bucket, max_fwd FROM {cum} t
    WHERE {join} AND t.bucket >= $1 ORDER BY t.bucket LIMIT 1
) f ON h.bucket IS NOT NULL
LEFT JOIN LATERAL (SELECT {level_j} AS j) j ON h.bucket IS NOT NULL
{edge_join}
WHERE {present}
{order}
"""


async def _total(
    db: Any,
    lo: _dt.datetime,
    hi: _dt.datetime,
    *,
    level: str,
    dims: tuple[str, ...],
    group_cols: list[str],
    filters: dict[str, str | None],
    limit: int,
) -> list[ApiLatencyRow]:
    """One row per group over ``[lo, hi)`` (hour-aligned): whole days from the running
    rows (counts, maximum and quantiles from three probes per rollup group, whatever
    the range: migrations 0007 and 0009), the partial days at the edges from the hourly
    rollup."""
    d_lo, d_hi = _ceil(lo, _DAY), _ceil(hi + _HOUR, _DAY) - _DAY
    if d_lo >= d_hi:  # no whole day: every hour is an edge hour
        d_lo = d_hi = lo
        spans = [(lo, hi)]
    else:
        spans = [(a, b) for a, b in ((lo, d_lo), (d_hi, hi)) if a < b]
    params = _exec.Params(d_lo, d_hi)
    where: list[str] = []
    _equals(where, params, filters)
    conds = [f"(bucket >= {params.add(a)} AND bucket < {params.add(b)})" for a, b in spans]
    edges = f"({' OR '.join(conds)})" if conds else None
    records = await _exec.fetch(
        db, "latency.total", _total_sql(level, dims, where, edges), *params.values
    )
    edge_hists: dict[tuple[object, ...], list[tuple[Sequence[int], Sequence[int]]]] = {}
    if edges:
        edge_sql = (
            f"SELECT {', '.join([*dims, 'hist_keys', 'hist_counts'])}"
            f" FROM {api_rollup('hour', level)} WHERE {edges}"
            + "".join(f" AND {w}" for w in where)
            + " AND $1::timestamptz IS NOT NULL AND $2::timestamptz IS NOT NULL"
        )
        for r in await _exec.fetch(db, "latency.total_edges", edge_sql, *params.values):
            key = tuple(r[d] for d in dims)
            edge_hists.setdefault(key, []).append((r["hist_keys"], r["hist_counts"]))
    out: list[ApiLatencyRow] = []
    for _key, grp in itertools.groupby(records, key=lambda r: tuple(r[c] for c in group_cols)):
        out.append(_total_row(list(grp), dims, group_cols, edge_hists))
        if len(out) >= limit:
            break
    return out


def _total_row(
    rows: list[asyncpg.Record],
    dims: tuple[str, ...],
    group_cols: list[str],
    edge_hists: dict[tuple[object, ...], list[tuple[Sequence[int], Sequence[int]]]],
) -> ApiLatencyRow:
    """One output group from its rollup groups' counts, running rows and edge hours."""
    totals = _sum_counts(rows)
    terms: list[_cumulative.Term] = []
    pending: list[tuple[Sequence[int], Sequence[int]]] = []
    for r in rows:
        if r["hk"] is not None:
            terms.append(_cumulative.decode(r["hk"], r["hc"]))
            if r["lk"] is not None:
                terms.append(_cumulative.decode(r["lk"], r["lc"], -1))
        pending.extend(edge_hists.get(tuple(r[d] for d in dims), ()))
    if pending:
        terms.append(_cumulative.from_histogram(*_histogram.merge(pending)))
    rep = _histogram.representative
    pcts = [None if k is None else rep(k) for k in _cumulative.quantile_keys(terms, _QS)]
    return _latency_row(_GroupOnly(rows[0], group_cols), pcts, **totals)


class _GroupOnly:
    """A record seen through the output's group columns (the others read as None)."""

    __slots__ = ("_cols", "_row")

    def __init__(self, row: Any, cols: list[str]) -> None:
        self._row = row
        self._cols = cols

    def __getitem__(self, name: str) -> Any:
        return self._row[name] if name in self._cols else None


# ------------------------------------------------------------------ slowest endpoints

#: Rows of :func:`top_endpoints` by default, and at most.
DEFAULT_TOP_ENDPOINTS: Final = 10
MAX_TOP_ENDPOINTS: Final = 1_000

EndpointRanking = Literal["p95", "p99", "error_rate", "requests"]
_RANKING: Final[dict[str, Callable[[ApiLatencyRow], float | None]]] = {
    "p95": lambda r: r.p95_ms,
    "p99": lambda r: r.p99_ms,
    "error_rate": lambda r: r.error_rate,
    "requests": lambda r: float(r.requests),
}


async def top_endpoints(
    db: _exec.Db,
    *,
    start: _dt.date | _dt.datetime,
    end: _dt.date | _dt.datetime,
    by: EndpointRanking = "p95",
    limit: int = DEFAULT_TOP_ENDPOINTS,
    service: str | None = None,
) -> list[ApiLatencyRow]:
    """The ``limit`` (service, endpoint, method) groups ranked by ``by`` over the range.

    One row per group (``bucket`` None), descending by ``by``; ties, and groups whose
    value is None (no usable duration), go by requests descending, then by name.
    Percentiles are within 1 % of the exact ones, as everywhere (:mod:`.histogram`).
    Reads the running distributions (``granularity="total"``): a few rows per endpoint
    whatever the range.
    """
    if by not in _RANKING:
        raise QueryError(f"by must be 'p95', 'p99', 'error_rate' or 'requests', not {by!r}")
    lim = _limit(limit, MAX_TOP_ENDPOINTS)
    rows = await api_latency(
        db,
        start=start,
        end=end,
        granularity="total",
        group_by="endpoint",
        service=service,
        limit=MAX_LIMIT,
    )
    value = _RANKING[by]

    def order(r: ApiLatencyRow) -> tuple[int, float, int, str, str, str]:
        v = value(r)
        return (
            0 if v is not None else 1,
            -float(v or 0),
            -r.requests,
            r.service or "",
            r.endpoint or "",
            r.method or "",
        )

    return sorted(rows, key=order)[:lim]
