"""The sparse exponential histogram: bucket math, the documented 1 % bound, SQL = Python."""

from __future__ import annotations

import math
import random

import asyncpg
import pytest

from lib_analytics_core.read import histogram as h
from tests import _aggregate_reference as ref


def test_constants() -> None:
    assert pytest.approx(1.01 / 0.99) == h.GAMMA
    assert pytest.approx(h.ALPHA) == (h.GAMMA - 1) / (h.GAMMA + 1)
    assert h.RELATIVE_ERROR_BOUND == h.ALPHA == 0.01
    assert -32768 == h.ZERO_KEY < h.MIN_KEY < 0 < h.MAX_KEY < 32767  # smallint keys


def test_bucket_key_rules() -> None:
    assert h.bucket_key(0) == h.bucket_key(-5) == h.bucket_key(0.0009) == h.ZERO_KEY
    assert h.bucket_key(h.MIN_MS) == h.MIN_KEY
    assert h.bucket_key(1) == 0
    assert h.bucket_key(h.MAX_MS) == h.MAX_KEY
    for bad in (h.MAX_MS * 1.01, math.nan, math.inf, -math.inf, None):
        assert h.bucket_key(bad) is None
    assert h.representative(h.ZERO_KEY) == 0.0
    # A bucket is (GAMMA**(k-1), GAMMA**k]
    for k in (-300, -1, 1, 50, 700, 1200):
        upper = h.GAMMA**k
        assert h.bucket_key(upper * (1 - 1e-12)) == k
        assert h.bucket_key(upper * (1 + 1e-9)) == k + 1


@pytest.mark.parametrize("seed", range(20))
def test_percentile_error_within_bound_on_random_data(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.choice([1, 2, 10, 100, 5000])
    sigma = rng.choice([0.3, 1.0, 2.5])
    values = [rng.lognormvariate(rng.uniform(-6, 20), sigma) for _ in range(n)]
    values = [min(v, h.MAX_MS) for v in values]
    keys, counts = h.merge([([h.bucket_key(v) for v in values], [1] * n)])  # type: ignore[misc]
    for q in (0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0):
        est = h.percentile(keys, counts, q)
        true = ref.nearest_rank(values, q)
        assert est is not None
        if true < h.MIN_MS:
            assert est == 0.0
        else:
            assert abs(est - true) <= h.ALPHA * true * (1 + 1e-9)


def test_bound_is_tight() -> None:
    # Both ends of a bucket are exactly ALPHA away from its representative (can fail).
    for k in (-200, 3, 400):
        rep = h.representative(k)
        assert abs(rep - h.GAMMA**k) / h.GAMMA**k == pytest.approx(h.ALPHA)
        assert abs(rep - h.GAMMA ** (k - 1)) / h.GAMMA ** (k - 1) == pytest.approx(h.ALPHA)


def test_merge_is_exact_and_order_free() -> None:
    a = ([1, 5, 9], [2, 1, 4])
    b = ([0, 5, 10], [1, 3, 1])
    assert h.merge([a, b]) == h.merge([b, a]) == ([0, 1, 5, 9, 10], [1, 2, 4, 4, 1])


def test_percentile_edge_cases() -> None:
    assert h.percentile([], [], 0.5) is None
    assert h.percentiles([3], [0], (0.5,)) == [None]
    with pytest.raises(ValueError, match="quantile"):
        h.percentile([1], [1], 0)
    with pytest.raises(ValueError, match="counts"):
        h.percentile([1, 2], [1], 0.5)
    # nearest rank: of 1..4 the median is the 2nd value, p100 the largest
    keys, counts = [10, 20, 30, 40], [1, 1, 1, 1]
    assert h.percentile_keys(keys, counts, (0.5, 0.51, 1.0)) == [20, 30, 40]


async def test_sql_keys_and_quantiles_agree_with_python(db: asyncpg.Connection) -> None:
    rng = random.Random(3)
    values = [
        0,
        -3,
        0.0004,
        0.001,
        1,
        2,
        1e11,
        1e11 + 1,
        *(rng.lognormvariate(3, 4) for _ in range(3000)),
    ]
    values += [h.GAMMA**k for k in range(-340, 1260, 7)]
    got = await db.fetch(
        # as text: stored JSON numbers reach the SQL as exact decimals, not float8
        "SELECT analytics_hist_key(v::numeric) AS k FROM unnest($1::text[]) AS t(v)",
        [repr(float(v)) for v in values],
    )
    assert [r["k"] for r in got] == [h.bucket_key(v) for v in values]
    kept = [k for k in (h.bucket_key(v) for v in values) if k is not None]
    keys, counts = h.merge([(kept, [1] * len(kept))])
    for q in (0.01, 0.5, 0.95, 0.99, 1.0):
        k = await db.fetchval("SELECT analytics_hist_quantile_key($1, $2, $3)", keys, counts, q)
        assert k == h.percentile_key(keys, counts, q)
    assert await db.fetchval("SELECT analytics_hist_quantile_key('{}', '{}', 0.5)") is None
