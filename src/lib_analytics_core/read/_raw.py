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

import asyncpg

from .. import _db
from .._errors import QueryError
from ..schema.facts import RAW_RETENTION
from . import _exec

__all__ = [
    "DEFAULT_TOP",
    "MAX_TOP",
    "WORK_MEM",
    "check_raw_horizon",
    "clock",
    "fetch",
    "top_n",
    "tops_sql",
]

#: Breakdown values kept by default (the rest are one "other" group), and at most.
DEFAULT_TOP: Final = 10
MAX_TOP: Final = 100

#: Memory each sort or hash of these statements may use before spilling to disk: their
#: per-user sorts and distinct (user, period) sets are tens of MB at 10M events, and the
#: server default (4 MB) sent them to temporary files.
WORK_MEM: Final = "64MB"

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


async def fetch(db: _exec.Db, question: str, sql: str, *args: object) -> list[asyncpg.Record]:
    """:func:`._exec.fetch` in a read-only transaction with ``jit = off`` and
    :data:`WORK_MEM` for this statement only (``SET LOCAL``; fine behind PgBouncer's
    transaction pooling).

    Why no JIT: these statements read one partition (or chunk) per day, and PostgreSQL's
    JIT compiles the expressions of every one of them: at 1M events a 3 s retention spent
    19 s compiling 613 functions (EXPLAIN ANALYZE, benchmarks/results-funnels.log), a
    cost that grows with the range and pays back nothing on plans of this shape.
    """
    with _db.translate(f"read {question}"):
        async with (
            _db.acquire(db, step=f"read {question}: connecting") as conn,
            conn.transaction(readonly=True),
        ):
            await conn.execute(f"SET LOCAL jit = off; SET LOCAL work_mem = '{WORK_MEM}'")
            return await _exec.fetch(conn, question, sql, *args)
