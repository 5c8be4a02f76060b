"""Slowest endpoints: the (service, endpoint, method) groups of a range ranked by p95,
p99, error rate or requests (``top_endpoints``, the table that leads to an endpoint's
drill-down in ``/v1/api-latency``).

A ranking is a question of its own over the latency totals: it asks
:func:`.latency.api_latency` for ``granularity="total"`` by endpoint (validation, rollup
choice and the running rows' read stay there and in :mod:`._latency_total`) and only
orders and cuts the rows, so a ranked row is the same row the series' total returns.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from typing import Final, Literal

from .._errors import QueryError
from . import _exec
from ._common import MAX_LIMIT, _limit
from ._latency_total import ApiLatencyRow
from .latency import api_latency

__all__ = [
    "DEFAULT_TOP_ENDPOINTS",
    "MAX_TOP_ENDPOINTS",
    "EndpointRanking",
    "top_endpoints",
]

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
