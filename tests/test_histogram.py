"""The fixed log-scale histogram: boundaries, bucketing, and the documented error bound."""

from __future__ import annotations

import random

import asyncpg
import pytest

from lib_analytics_core.read import histogram as h
from tests import _aggregate_reference as ref


def test_boundaries_shape() -> None:
    b = h.BOUNDARIES
    assert b[: h.EXACT_LIMIT + 1] == tuple(range(h.EXACT_LIMIT + 1))
    assert b[-1] >= 86_400_000 > b[-2]
    assert all(b[k] < b[k + 1] for k in range(len(b) - 1))
    assert all(b[k + 1] / b[k] <= 1.25 + 1e-9 for k in range(h.EXACT_LIMIT, len(b) - 1))
    assert len(h.COLUMN_NAMES) == h.BUCKET_COUNT == 84
    assert 0.10 < h.RELATIVE_ERROR_BOUND < 0.115


def test_bucket_index_matches_boundaries() -> None:
    for k, lo in enumerate(h.BOUNDARIES):
        assert h.bucket_index(lo) == k
        if k:
            assert h.bucket_index(lo - 1) == k - 1
    assert h.bucket_index(-5) == 0
    assert h.bucket_index(10**12) == h.BUCKET_COUNT - 1


@pytest.mark.parametrize("seed", range(20))
def test_percentile_error_within_bound_on_random_data(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.choice([1, 2, 10, 100, 5000])
    sigma = rng.choice([0.3, 1.0, 2.5])
    values = [min(int(rng.lognormvariate(rng.uniform(0, 12), sigma)), 86_000_000) for _ in range(n)]
    counts = [0] * h.BUCKET_COUNT
    for v in values:
        counts[h.bucket_index(v)] += 1
    for q in (0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0):
        est = h.percentile(counts, q)
        true = ref.nearest_rank(values, q)
        assert est is not None
        if true < h.EXACT_LIMIT:
            assert est == true
        else:
            assert abs(est - true) <= h.RELATIVE_ERROR_BOUND * true + 1e-9


def test_bound_is_tight_somewhere() -> None:
    # The bound is not loose: a bucket's end point reaches it (the test could fail).
    worst = 0.0
    for k in range(h.EXACT_LIMIT, h.BUCKET_COUNT - 1):
        for v in (h.BOUNDARIES[k], h.BOUNDARIES[k + 1] - 1):
            worst = max(worst, abs(h.representative(k) - v) / v)
    assert worst == pytest.approx(h.RELATIVE_ERROR_BOUND)


def test_percentile_edge_cases() -> None:
    assert h.percentile([0] * h.BUCKET_COUNT, 0.5) is None
    with pytest.raises(ValueError, match="quantile"):
        h.percentile([0] * h.BUCKET_COUNT, 0)
    with pytest.raises(ValueError, match="bucket counts"):
        h.percentile([1], 0.5)


async def test_sql_buckets_agree_with_python(db: asyncpg.Connection) -> None:
    values = sorted({0, -3, *h.BOUNDARIES, *(b - 1 for b in h.BOUNDARIES[1:]), 10**10})
    sql = "SELECT " + h.count_columns_sql("v") + " FROM unnest($1::bigint[]) AS t(v)"
    row = await db.fetchrow(sql, values)
    assert row is not None
    want = [0] * h.BUCKET_COUNT
    for v in values:
        want[h.bucket_index(v)] += 1
    assert [row[c] for c in h.COLUMN_NAMES] == want


@pytest.mark.parametrize("seed", range(10))
def test_percentiles_in_one_pass_agree_with_percentile(seed: int) -> None:
    rng = random.Random(seed)
    counts = [rng.choice([0, 0, 0, rng.randint(1, 500)]) for _ in range(h.BUCKET_COUNT)]
    qs = (0.01, 0.5, 0.95, 0.99, 1.0)
    assert h.percentiles(counts, qs) == [h.percentile(counts, q) for q in qs]
    assert h.percentiles([0] * h.BUCKET_COUNT, qs) == [None] * len(qs)
    with pytest.raises(ValueError, match="quantile"):
        h.percentiles(counts, (0.0,))
