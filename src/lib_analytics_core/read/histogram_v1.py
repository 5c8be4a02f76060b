"""Frozen: the fixed 84-bucket histogram of migration 0002 (superseded by :mod:`.histogram`).

Migration 0002 is rendered from these boundaries and its checksum covers them, so this
module must never change; nothing reads these columns any more (0004 drops them).
The original description follows.

Fixed log-scale histogram for latencies and durations (integer milliseconds).

Why a histogram instead of stored percentiles: a p95 per hour cannot be merged into a
p95 per day, per week or per set of endpoints. Counts per fixed bucket can: add the
columns ``h00..hNN`` of any rows (any window, any service/endpoint subset) and estimate
the percentile from the sum. The boundaries are fixed forever for a given schema
version, so every row in every aggregate uses the same buckets.

Buckets. ``BOUNDARIES[k] <= d < BOUNDARIES[k+1]`` is bucket ``k``; the first bucket also
takes negative values (clock skew) and the last bucket is open-ended. Below
``EXACT_LIMIT`` ms every bucket holds exactly one integer value (fine resolution where
relative error matters most); above, each boundary is the previous one times ~1.25
(rounded to an integer), up to more than one day.

Estimate. :func:`percentile` uses the *nearest-rank* definition: the ``q`` quantile of
``n`` values is the ``ceil(q * n)``-th smallest. It finds the bucket holding that rank
and returns the bucket's representative value ``r = 2*lo*hi/(lo+hi)`` where ``lo`` and
``hi`` are the smallest and largest integers in the bucket. ``r`` is the point whose
worst relative error to any value in ``[lo, hi]`` is smallest, that error being
``(hi - lo) / (hi + lo)``.

Error bound (tested): for any data whose true nearest-rank percentile ``v`` lies in
``[0, BOUNDARIES[-1])``, ``|estimate - v| <= RELATIVE_ERROR_BOUND * v`` (exact when
``v < EXACT_LIMIT``). ``RELATIVE_ERROR_BOUND`` is computed from the boundaries (about
0.111, i.e. 11.1 %). Values at or above the last boundary (more than one day) are all
reported as that boundary: the overflow bucket has no upper end.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence

__all__ = [
    "BOUNDARIES",
    "BUCKET_COUNT",
    "COLUMN_NAMES",
    "EXACT_LIMIT",
    "GROWTH",
    "MAX_FINITE_MS",
    "RELATIVE_ERROR_BOUND",
    "bucket_index",
    "column_definitions_sql",
    "count_columns_sql",
    "percentile",
    "percentiles",
    "representative",
    "sum_columns_sql",
]

EXACT_LIMIT = 10
"""Values below this (ms) each get their own bucket: the estimate is exact there."""

GROWTH = 1.25
"""Ratio between consecutive boundaries above ``EXACT_LIMIT`` (before integer rounding)."""

MAX_FINITE_MS = 86_400_000
"""The boundaries reach at least one day; longer durations share the overflow bucket."""


def _boundaries() -> tuple[int, ...]:
    bounds = list(range(EXACT_LIMIT + 1))  # 0, 1, ..., EXACT_LIMIT
    while bounds[-1] < MAX_FINITE_MS:
        bounds.append(max(bounds[-1] + 1, math.floor(bounds[-1] * GROWTH)))
    return tuple(bounds)


BOUNDARIES: tuple[int, ...] = _boundaries()
"""Lower bounds of the buckets, ascending; bucket ``k`` is ``[B[k], B[k+1])``."""

BUCKET_COUNT = len(BOUNDARIES)
"""Number of histogram columns (the last bucket is ``[B[-1], +inf)``)."""

COLUMN_NAMES: tuple[str, ...] = tuple(f"h{k:02d}" for k in range(BUCKET_COUNT))
"""``h00 .. hNN``: the column names in every histogram-bearing aggregate."""


def representative(k: int) -> float:
    """The value reported for bucket ``k`` (minimises the worst relative error)."""
    lo = BOUNDARIES[k]
    if k + 1 >= BUCKET_COUNT:
        return float(lo)
    hi = BOUNDARIES[k + 1] - 1  # largest integer in the bucket
    if lo == hi:
        return float(lo)
    if lo == 0:
        return 0.0
    return 2.0 * lo * hi / (lo + hi)


def _bucket_error(k: int) -> float:
    lo = BOUNDARIES[k]
    hi = BOUNDARIES[k + 1] - 1
    return 0.0 if hi == lo else (hi - lo) / (hi + lo)


RELATIVE_ERROR_BOUND: float = max(_bucket_error(k) for k in range(BUCKET_COUNT - 1))
"""Worst relative error of :func:`percentile` for values below ``BOUNDARIES[-1]``."""


def bucket_index(value_ms: int) -> int:
    """The bucket a duration falls in (the same rule as the generated SQL)."""
    if value_ms < BOUNDARIES[1]:
        return 0
    lo, hi = 1, BUCKET_COUNT - 1
    while lo < hi:  # largest k with BOUNDARIES[k] <= value
        mid = (lo + hi + 1) // 2
        if BOUNDARIES[mid] <= value_ms:
            lo = mid
        else:
            hi = mid - 1
    return lo


def percentile(counts: Sequence[int], q: float) -> float | None:
    """Nearest-rank ``q`` quantile (0 < q <= 1) estimated from bucket counts.

    ``counts`` is the ``h00..hNN`` values summed over any set of rows. Returns None when
    the counts are all zero (no data: no percentile, rather than a misleading 0).
    """
    if not 0.0 < q <= 1.0:
        raise ValueError(f"quantile must be in (0, 1], got {q!r}")
    if len(counts) != BUCKET_COUNT:
        raise ValueError(f"expected {BUCKET_COUNT} bucket counts, got {len(counts)}")
    total = sum(counts)
    if total <= 0:
        return None
    rank = max(1, math.ceil(q * total - 1e-9))
    seen = 0
    for k, c in enumerate(counts):
        seen += c
        if seen >= rank:
            return representative(k)
    return representative(BUCKET_COUNT - 1)  # pragma: no cover - unreachable


def percentiles(counts: Sequence[int], qs: Sequence[float]) -> list[float | None]:
    """Several nearest-rank quantiles from one set of bucket counts, in one pass.

    Same answers as :func:`percentile` for each ``q``; the cumulative sums are built once
    (in C, ``itertools.accumulate``) and each rank found by bisection, which matters when a
    query turns thousands of hourly rows into p50/p95/p99 each.
    """
    if len(counts) != BUCKET_COUNT:
        raise ValueError(f"expected {BUCKET_COUNT} bucket counts, got {len(counts)}")
    cumulative = list(itertools.accumulate(counts))
    total = cumulative[-1]
    out: list[float | None] = []
    for q in qs:
        if not 0.0 < q <= 1.0:
            raise ValueError(f"quantile must be in (0, 1], got {q!r}")
        if total <= 0:
            out.append(None)
            continue
        rank = max(1, math.ceil(q * total - 1e-9))
        out.append(representative(bisect.bisect_left(cumulative, rank)))
    return out


# ----------------------------------------------------------------------------- SQL


def count_columns_sql(expr: str, indent: str = "    ") -> str:
    """``count(*) FILTER (...) AS hKK`` for every bucket, for a SELECT list.

    ``expr`` is a SQL expression yielding the duration in ms (NULL rows are counted in
    no bucket). It comes from the library's own migration files, never from users.
    """
    e = f"({expr})"
    parts: list[str] = []
    for k, name in enumerate(COLUMN_NAMES):
        if k == 0:
            cond = f"{e} < {BOUNDARIES[1]}"
        elif k == BUCKET_COUNT - 1:
            cond = f"{e} >= {BOUNDARIES[k]}"
        else:
            cond = f"{e} >= {BOUNDARIES[k]} AND {e} < {BOUNDARIES[k + 1]}"
        parts.append(f"{indent}count(*) FILTER (WHERE {cond}) AS {name}")
    return ",\n".join(parts)


def sum_columns_sql(indent: str = "    ") -> str:
    """``sum(hKK)::bigint AS hKK`` for every bucket (rolling a histogram up)."""
    return ",\n".join(f"{indent}sum({n})::bigint AS {n}" for n in COLUMN_NAMES)


def column_definitions_sql(indent: str = "    ") -> str:
    """``hKK bigint NOT NULL DEFAULT 0`` for every bucket (for CREATE TABLE)."""
    return ",\n".join(f"{indent}{n} bigint NOT NULL DEFAULT 0" for n in COLUMN_NAMES)
