"""Sparse exponential histograms for latencies and durations: ≤ 1 % relative error.

Why a histogram instead of stored percentiles: a p95 per hour cannot be merged into a
p95 per day, per week or per set of endpoints. Counts per fixed bucket can: add the
counts of any rows (any window, any subset of services/endpoints/methods) key by key
and take the percentile of the sum. That merge is exact: the merged histogram is the
one the union of the raw values would have produced.

Buckets (the DDSketch mapping, like Prometheus native histograms). With relative accuracy
``ALPHA`` and ``GAMMA = (1 + ALPHA) / (1 - ALPHA)``, a value ``v`` in milliseconds has the
integer key ``k = ceil(ln(v) / ln(GAMMA))``, i.e. ``GAMMA**(k-1) < v <= GAMMA**k``. Keys are
small (``v = 1 µs`` → -345, one hour → 759, ``MAX_MS`` → 1267), so they fit ``smallint``.
Only non-empty buckets are stored (``hist_keys smallint[]``, ``hist_counts bigint[]``, sorted
by key): a row costs what the spread of its values costs, not the whole bucket range.

Special values, by rule (the SQL in migration 0004 applies the same rules):

* ``0 <= v < MIN_MS`` (zero and anything below one microsecond) and negative values
  (clock skew) fall in the zero bucket ``ZERO_KEY``, reported as exactly ``0``;
* ``v > MAX_MS`` (about three years), non-finite values and non-numbers are not counted in
  the distribution at all (the request itself still counts in ``requests``).

Estimate. The ``q`` quantile of ``n`` values is the nearest-rank one, the
``ceil(q * n)``-th smallest. It is reported as the representative value of the bucket
holding that rank, ``2 * GAMMA**k / (GAMMA + 1)``: the point whose relative distance to
either end of ``(GAMMA**(k-1), GAMMA**k]`` is exactly ``ALPHA``.

Error bound (tested against the exact percentiles of the raw rows, through the real
pipeline on both tiers): for true value ``v`` with ``MIN_MS <= v <= MAX_MS``,
``|estimate - v| <= ALPHA * v``; for ``v < MIN_MS`` the estimate is ``0`` (absolute error
below one microsecond).
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterable, Sequence

__all__ = [
    "ALPHA",
    "GAMMA",
    "LN_GAMMA",
    "MAX_KEY",
    "MAX_MS",
    "MIN_KEY",
    "MIN_MS",
    "RELATIVE_ERROR_BOUND",
    "ZERO_KEY",
    "bucket_key",
    "merge",
    "nearest_rank",
    "percentile",
    "percentile_key",
    "percentile_keys",
    "percentiles",
    "representative",
]

ALPHA = 0.01
"""Relative accuracy: every reported percentile is within 1 % of the true one."""

GAMMA = (1.0 + ALPHA) / (1.0 - ALPHA)
"""Ratio between consecutive bucket bounds (≈ 1.0202)."""

LN_GAMMA = math.log(GAMMA)
"""``ln(GAMMA)``; the SQL function ``analytics_hist_key`` uses the same float8 literal."""

MIN_MS = 0.001
"""Smallest value given its own bucket (1 µs); anything below is reported as 0."""

MAX_MS = 1e11
"""Largest value counted (~3.2 years in ms); larger durations are treated as garbage."""

ZERO_KEY = -32768
"""Key of the zero bucket (sorts before every other key; representative 0)."""

MIN_KEY = math.ceil(math.log(MIN_MS) / LN_GAMMA)
MAX_KEY = math.ceil(math.log(MAX_MS) / LN_GAMMA)

RELATIVE_ERROR_BOUND = ALPHA
"""The documented bound (kept under the old name for callers of the fixed histogram)."""


def bucket_key(value: float | None) -> int | None:
    """The key of ``value`` (ms) by the rules above; None when it is not counted."""
    if value is None or not math.isfinite(value) or value > MAX_MS:
        return None
    if value < MIN_MS:
        return ZERO_KEY
    return math.ceil(math.log(value) / LN_GAMMA)


def _representative(key: int) -> float:
    return 2.0 * math.exp(key * LN_GAMMA) / (GAMMA + 1.0)


_REPRESENTATIVES = tuple(_representative(k) for k in range(MIN_KEY, MAX_KEY + 1))


def representative(key: int) -> float:
    """The value reported for bucket ``key`` (relative error ≤ ``ALPHA`` to any member).

    A table lookup for every key values can have (reads turn thousands of keys into
    values per request); computed for any other key.
    """
    if MIN_KEY <= key <= MAX_KEY:
        return _REPRESENTATIVES[key - MIN_KEY]
    if key == ZERO_KEY:
        return 0.0
    return _representative(key)


def merge(pairs: Iterable[tuple[Sequence[int], Sequence[int]]]) -> tuple[list[int], list[int]]:
    """Exact merge of sparse histograms given as ``(keys, counts)``: sorted keys and sums."""
    total: dict[int, int] = {}
    for keys, counts in pairs:
        for k, c in zip(keys, counts, strict=True):
            total[k] = total.get(k, 0) + c
    ordered = sorted(total)
    return ordered, [total[k] for k in ordered]


def nearest_rank(q: float, total: int) -> int:
    """The 1-based rank of the nearest-rank ``q`` quantile of ``total`` values."""
    if not 0.0 < q <= 1.0:
        raise ValueError(f"quantile must be in (0, 1], got {q!r}")
    return max(1, math.ceil(q * total - 1e-9))


def percentile_keys(
    keys: Sequence[int], counts: Sequence[int], qs: Sequence[float]
) -> list[int | None]:
    """Bucket keys of several nearest-rank quantiles (``keys`` sorted ascending), one pass."""
    if len(keys) != len(counts):
        raise ValueError(f"{len(keys)} keys but {len(counts)} counts")
    cumulative = list(itertools.accumulate(counts))
    total = cumulative[-1] if cumulative else 0
    out: list[int | None] = []
    for q in qs:
        rank = nearest_rank(q, max(total, 1))
        out.append(None if total <= 0 else keys[bisect.bisect_left(cumulative, rank)])
    return out


def percentile_key(keys: Sequence[int], counts: Sequence[int], q: float) -> int | None:
    """Bucket key of the nearest-rank ``q`` quantile (None for an empty histogram)."""
    return percentile_keys(keys, counts, (q,))[0]


def percentiles(
    keys: Sequence[int], counts: Sequence[int], qs: Sequence[float]
) -> list[float | None]:
    """Nearest-rank quantiles (ms) of a sparse histogram; None where it is empty."""
    return [None if k is None else representative(k) for k in percentile_keys(keys, counts, qs)]


def percentile(keys: Sequence[int], counts: Sequence[int], q: float) -> float | None:
    """One nearest-rank quantile (ms); None when the histogram is empty (no data)."""
    return percentiles(keys, counts, (q,))[0]
