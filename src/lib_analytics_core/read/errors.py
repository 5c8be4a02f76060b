"""Application errors: per hour, service and type, and the most frequent over a range."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Final

from ..schema.facts import ERRORS_TABLE
from . import _exec
from ._common import (
    _HOUR,
    DEFAULT_LIMIT,
    DEFAULT_TOP_ERRORS,
    MAX_DAILY_RANGE,
    MAX_HOURLY_RANGE,
    MAX_LIMIT,
    MAX_TOP_ERRORS,
    _ceil,
    _equals,
    _filter,
    _limit,
    _range,
    build_rows,
    epoch_sql,
    fast_rows,
)

__all__ = ["ErrorRow", "TopErrorRow", "errors", "top_errors"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorRow:
    """Errors of one type in one service during one hour, with one example message."""

    hour: _dt.datetime
    service: str
    error_type: str
    errors: int
    sample_message: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TopErrorRow:
    """An error type's total over the range, most frequent first."""

    service: str
    error_type: str
    errors: int
    first_seen: _dt.datetime
    last_seen: _dt.datetime
    sample_message: str | None


def _where(
    lo: _dt.datetime, hi: _dt.datetime, service: str | None, error_type: str | None
) -> tuple[list[str], _exec.Params]:
    params = _exec.Params(lo, hi)
    where = ["hour >= $1", "hour < $2"]
    _equals(
        where,
        params,
        {"service": _filter(service, "service"), "error_type": _filter(error_type, "error_type")},
    )
    return where, params


_make_error: Final = fast_rows(ErrorRow, epoch="hour")


async def errors(
    db: _exec.Db,
    *,
    start: _dt.date | _dt.datetime,
    end: _dt.date | _dt.datetime,
    service: str | None = None,
    error_type: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> list[ErrorRow]:
    """Errors per hour, service and error type, with a sample message; oldest first."""
    lo, hi = _range(start, end, MAX_HOURLY_RANGE)
    lo, hi = _ceil(lo, _HOUR), _ceil(hi, _HOUR)
    lim = _limit(limit, MAX_LIMIT)
    if lo >= hi:
        return []
    where, params = _where(lo, hi, service, error_type)
    sql = f"""
SELECT {epoch_sql("hour")}, service, error_type, errors::bigint AS errors, sample_message
FROM {ERRORS_TABLE}
WHERE {" AND ".join(where)}
ORDER BY hour, service, error_type
LIMIT {params.add(lim)}
"""
    return build_rows(_make_error, await _exec.fetch(db, "errors.errors", sql, *params.values))


async def top_errors(
    db: _exec.Db,
    *,
    start: _dt.date | _dt.datetime,
    end: _dt.date | _dt.datetime,
    service: str | None = None,
    limit: int = DEFAULT_TOP_ERRORS,
) -> list[TopErrorRow]:
    """The most frequent (service, error type) pairs over the range, with the latest sample.

    Ties are broken by service and error type so the order is stable between calls.
    """
    lo, hi = _range(start, end, MAX_DAILY_RANGE)
    lo, hi = _ceil(lo, _HOUR), _ceil(hi, _HOUR)
    lim = _limit(limit, MAX_TOP_ERRORS)
    if lo >= hi:
        return []
    where, params = _where(lo, hi, service, None)
    # The latest sample is looked up for the returned pairs only (one index probe each),
    # not aggregated for every pair: the cost follows the rows returned.
    sql = f"""
WITH top AS (
    SELECT service, error_type, sum(errors)::bigint AS errors,
           min(hour) AS first_seen, max(hour) AS last_seen
    FROM {ERRORS_TABLE}
    WHERE {" AND ".join(where)}
    GROUP BY service, error_type
    ORDER BY errors DESC, service, error_type
    LIMIT {params.add(lim)}
)
SELECT top.*,
       (SELECT x.sample_message FROM {ERRORS_TABLE} x
        WHERE x.service = top.service AND x.error_type = top.error_type
          AND x.hour >= $1 AND x.hour < $2 AND x.sample_message IS NOT NULL
        ORDER BY x.hour DESC LIMIT 1) AS sample_message
FROM top
ORDER BY errors DESC, service, error_type
"""
    return [
        TopErrorRow(
            service=r["service"],
            error_type=r["error_type"],
            errors=int(r["errors"]),
            first_seen=r["first_seen"],
            last_seen=r["last_seen"],
            sample_message=r["sample_message"],
        )
        for r in await _exec.fetch(db, "errors.top_errors", sql, *params.values)
    ]
