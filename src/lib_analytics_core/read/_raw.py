"""What the questions answered only from raw events (funnels, retention) share: the raw
horizon below which they refuse to answer, and the breakdown's "top N and other".

Why refuse rather than answer: raw events older than ``RAW_RETENTION`` (90 days) are
dropped by maintenance (whole days), and no rollup keeps per-user sequences. A funnel
or a cohort that reached back there would count only the users whose events survived:
a silently smaller number. So a range starting earlier than ``now - RAW_RETENTION`` is a
:class:`~lib_analytics_core.QueryError` (the API's 400) that says so.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from typing import Final

from .._errors import QueryError
from ..schema.facts import RAW_RETENTION

__all__ = [
    "DEFAULT_TOP",
    "MAX_TOP",
    "check_raw_horizon",
    "clock",
    "top_n",
    "tops_sql",
]

#: Breakdown values kept by default (the rest are one "other" group), and at most.
DEFAULT_TOP: Final = 10
MAX_TOP: Final = 100

#: The clock the horizon is measured from (replaceable in tests of the rule only).
clock: Callable[[], _dt.datetime] = lambda: _dt.datetime.now(_dt.UTC)  # noqa: E731


def check_raw_horizon(start: _dt.datetime, question: str) -> None:
    """:class:`QueryError` when ``start`` lies before the raw retention horizon."""
    horizon = clock() - RAW_RETENTION
    if start < horizon:
        raise QueryError(
            f"{question} are computed from raw events, which are kept for "
            f"{RAW_RETENTION.days} days: start {start.isoformat()} is before "
            f"{horizon.replace(microsecond=0).isoformat()}; an answer there would silently "
            "miss the users whose events were dropped, so none is given"
        )


def top_n(value: int) -> int:
    """``value`` as the number of breakdown values kept, or :class:`QueryError`."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TOP:
        raise QueryError(f"top must be an integer between 1 and {MAX_TOP}, got {value!r}")
    return value


def tops_sql(source: str, key: str, n: str) -> str:
    """The ``n`` most frequent values of ``key`` among the rows of ``source`` (one row per
    user), as one text array: ranked by users, ties by code-point order, null first."""
    return (
        f'SELECT coalesce(array_agg(v ORDER BY c DESC, v COLLATE "C" NULLS FIRST),'
        f" '{{}}'::text[]) AS t FROM (SELECT {key} AS v, count(*) AS c FROM {source}"
        f' GROUP BY {key} ORDER BY c DESC, {key} COLLATE "C" NULLS FIRST LIMIT {n}) AS x'
    )
