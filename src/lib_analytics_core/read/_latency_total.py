"""The latency row, and how stored rollup rows add up to one.

Every latency question answers in :class:`ApiLatencyRow`, built here (``_make_row``: the
percentiles capped at ``max_ms``, issue 20). Rows add up in two ways: the consecutive
stored rows of one output group summed, their histograms merged (``_sum_counts``,
``_latency_row``: a series at a coarser grain than its rollup), and a whole range's
total from the running rows (``_total``: three probes per rollup group whatever the
range, migrations 0007 and 0009, ``docs/schema.md``), the partial days at its edges from
the hourly rollup. The counts that add (``_COUNTS``) and the percentiles asked for
(``_QS``) are written once, here, for both.

Why a module of its own: the series (:mod:`.latency`) answers ``granularity="total"``
with ``_total``, and the ranking (:mod:`.endpoints`) ranks :mod:`.latency`'s totals; the
row and the arithmetic sit below both, so neither question module imports the other
for them and the imports stay one way (``endpoints -> latency -> _latency_total``).
"""

from __future__ import annotations

import datetime as _dt
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import asyncpg

from ..schema.facts import api_rollup, api_running
from . import _exec
from . import cumulative as _cumulative
from . import histogram as _histogram
from ._common import (
    _DAY,
    _HOUR,
    _capped,
    _ceil,
    _dt_or_none,
    _equals,
    _max_ms,
    _ratio,
    fast_rows,
)

__all__ = ["ApiLatencyRow"]


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


#: The quantiles every latency row reports: p50, p95, p99.
_QS: Final = (0.50, 0.95, 0.99)

#: ``_COUNTS`` and the maximum summed in SQL, for the edge hours of a range total.
_COUNT_COLUMNS: Final = (
    "coalesce(sum(requests), 0)::bigint AS requests, "
    "coalesce(sum(requests_estimated), 0)::float8 AS requests_estimated, "
    "coalesce(sum(errors_4xx), 0)::bigint AS errors_4xx, "
    "coalesce(sum(errors_5xx), 0)::bigint AS errors_5xx, "
    "coalesce(sum(duration_count), 0)::bigint AS duration_count, "
    "coalesce(sum(duration_sum_ms), 0)::float8 AS duration_sum_ms, "
    "max(duration_max_ms) AS duration_max_ms"
)


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
