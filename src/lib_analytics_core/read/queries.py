"""The read side: one typed, async function per question the dashboards ask.

Every function reads the aggregates (never ``analytics_events``), so its cost depends
on the length of the range, not on the event volume, and it returns the same rows on
TimescaleDB (continuous aggregates) and plain PostgreSQL (refreshed tables): both
expose the same relations and columns (``docs/schema.md``).

Conventions shared by all functions:

* ``db`` is an ``asyncpg.Pool`` or ``asyncpg.Connection``; a read-only role is enough.
* ``start``/``end`` are a half-open range ``[start, end)``. A ``date`` means midnight
  UTC of that day, so "January" is ``start=date(2026, 1, 1), end=date(2026, 2, 1)``.
  A ``datetime`` must be timezone-aware (the aggregates are bucketed in UTC and a naive
  time would be silently misread). A bucket belongs to the range when its *start* does.
* Daily series return one row per day of the range, zeros included, so a chart never
  draws a line across a gap as if nothing had been missing.
* Dates and times must lie in ``[EARLIEST, LATEST]`` (``read.window``): ``datetime.min``/``max``
  would reach the database as ±infinity (a day series that never ends) or overflow.
* Percentiles come from sparse exponential histograms
  (:mod:`lib_analytics_core.read.histogram`): within 1 % of the exact nearest-rank value.
  Each question reads the rollup whose grain matches its group-by and filters (migration
  0004; ``docs/schema.md`` lists them): a series at that grain reads precomputed
  percentiles, anything coarser merges the histograms of the rows it covers (exact).
* Bad parameters raise :class:`QueryError` before any SQL runs; driver errors become
  :class:`DatabaseError` / :class:`DatabaseUnavailableError`.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import asyncpg

from ._common import (
    _DAY,
    _HOUR,
    _UTC,
    DEFAULT_LIMIT,
    DEFAULT_TOP_ERRORS,
    MAX_ACTIVE_USERS_RANGE,
    MAX_DAILY_RANGE,
    MAX_HOURLY_RANGE,
    MAX_LIMIT,
    MAX_TOP_ERRORS,
    _as_utc,
    _ceil,
    _dt_or_none,
    _equals,
    _fetch,
    _fetch_days,
    _filter,
    _limit,
    _max_ms,
    _range,
    _ratio,
    _value,
    build_rows,
    epoch_sql,
    fast_rows,
)
from .latency import ApiLatencyRow, Granularity, LatencyGroupBy, api_latency
from .window import EARLIEST, LATEST

__all__ = [
    "DEFAULT_LIMIT",
    "DEFAULT_TOP_ERRORS",
    "EARLIEST",
    "LATEST",
    "MAX_ACTIVE_USERS_RANGE",
    "MAX_DAILY_RANGE",
    "MAX_HOURLY_RANGE",
    "MAX_LIMIT",
    "MAX_TOP_ERRORS",
    "ActiveUsersRow",
    "ApiLatencyRow",
    "AuthMetricsRow",
    "CocoonActivityRow",
    "ErrorRow",
    "Granularity",
    "IntegrationHealthRow",
    "LatencyGroupBy",
    "TaskStatsRow",
    "TopErrorRow",
    "active_users",
    "api_latency",
    "auth_metrics",
    "cocoon_activity",
    "errors",
    "integration_health",
    "list_services",
    "task_stats",
    "top_errors",
]


# ----------------------------------------------------------------------------- rows


@dataclass(frozen=True, slots=True, kw_only=True)
class ActiveUsersRow:
    """Distinct active users on ``day`` and in the 7 and 30 days ending with it (exact)."""

    day: _dt.datetime
    dau: int
    wau: int
    mau: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskStatsRow:
    """Task outcomes on one day. ``success_rate`` is completed / (completed + failed)."""

    day: _dt.datetime
    created: int
    started: int
    completed: int
    failed: int
    cancelled: int
    success_rate: float | None
    duration_count: int
    avg_duration_ms: float | None
    p50_duration_ms: float | None
    p95_duration_ms: float | None
    max_duration_ms: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class IntegrationHealthRow:
    """One provider's integration activity on ``day`` (``None``: summed over the range)."""

    day: _dt.datetime | None
    provider: str
    connected: int
    disconnected: int
    used: int
    used_success: int
    used_failed: int
    errors: int
    oauth_started: int
    oauth_completed: int
    oauth_failed: int
    success_rate: float | None
    avg_used_duration_ms: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthMetricsRow:
    """Authentication activity on one day."""

    day: _dt.datetime
    login_attempts: int
    login_success: int
    login_failed: int
    login_success_rate: float | None
    codes_verified: int
    codes_failed: int
    token_refreshes: int
    token_refresh_failed: int
    sessions_validated: int
    sessions_invalid: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CocoonActivityRow:
    """Cocoon (execution agent) lifecycle events on one day."""

    day: _dt.datetime
    registered: int
    connected: int
    disconnected: int
    claimed: int
    setup_tokens_created: int
    setup_tokens_used: int
    session_duration_sum_ms: int


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


# --------------------------------------------------------------------------- queries

# DAU/WAU/MAU are precomputed per day (migration 0003, kept current by the aggregate
# refresh): a 90-day series is 90 rows, whatever the number of users.
_ACTIVE_USERS_SQL = """
SELECT s.day,
       coalesce(r.dau, 0) AS dau,
       coalesce(r.wau, 0) AS wau,
       coalesce(r.mau, 0) AS mau
FROM generate_series($1::timestamptz, $2::timestamptz, interval '24 hours') AS s(day)
LEFT JOIN analytics_active_users_daily r ON r.day = s.day
ORDER BY s.day
"""


async def active_users(
    db: asyncpg.Pool[Any] | asyncpg.Connection[Any],
    *,
    start: _dt.date | _dt.datetime,
    end: _dt.date | _dt.datetime,
) -> list[ActiveUsersRow]:
    """DAU, WAU and MAU for each day in ``[start, end)``, exact.

    WAU/MAU of a day count distinct users over the 7/30 days ending with it (so the
    first days of a range look back before ``start``). Exact rather than estimated
    because the aggregate keeps one row per user and day; a sketch would be cheaper but
    makes the numbers disagree with any audit query.
    """
    rows = await _fetch_days(db, _ACTIVE_USERS_SQL, start, end, MAX_ACTIVE_USERS_RANGE)
    return [
        ActiveUsersRow(day=r["day"], dau=int(r["dau"]), wau=int(r["wau"]), mau=int(r["mau"]))
        for r in rows
    ]


_TASK_SQL = """
SELECT days.day,
       coalesce(t.created, 0)::bigint AS created,
       coalesce(t.started, 0)::bigint AS started,
       coalesce(t.completed, 0)::bigint AS completed,
       coalesce(t.failed, 0)::bigint AS failed,
       coalesce(t.cancelled, 0)::bigint AS cancelled,
       coalesce(t.duration_count, 0)::bigint AS duration_count,
       coalesce(t.duration_sum_ms, 0)::float8 AS duration_sum_ms,
       t.duration_max_ms,
       d.p50_key,
       d.p95_key
FROM generate_series($1::timestamptz, $2::timestamptz, interval '24 hours') AS days(day)
LEFT JOIN analytics_task_stats_daily t ON t.day = days.day
LEFT JOIN analytics_task_durations_daily d ON d.day = days.day
ORDER BY days.day
"""


async def task_stats(
    db: asyncpg.Pool[Any] | asyncpg.Connection[Any],
    *,
    start: _dt.date | _dt.datetime,
    end: _dt.date | _dt.datetime,
) -> list[TaskStatsRow]:
    """Task counts per day, success rate, and the duration of finished tasks.

    Durations that are not a number in ``[0, 1e11]`` ms are left out of the duration
    figures (negative ones count as 0), by the rules of ``docs/schema.md``.
    """
    out: list[TaskStatsRow] = []
    for r in await _fetch_days(db, _TASK_SQL, start, end, MAX_DAILY_RANGE):
        n = int(r["duration_count"])
        completed, failed = int(r["completed"]), int(r["failed"])
        top = _max_ms(r["duration_max_ms"])
        out.append(
            TaskStatsRow(
                day=r["day"],
                created=int(r["created"]),
                started=int(r["started"]),
                completed=completed,
                failed=failed,
                cancelled=int(r["cancelled"]),
                success_rate=_ratio(completed, completed + failed),
                duration_count=n,
                avg_duration_ms=_ratio(float(r["duration_sum_ms"]), n),
                p50_duration_ms=_value(r["p50_key"], top),
                p95_duration_ms=_value(r["p95_key"], top),
                max_duration_ms=top,
            )
        )
    return out


_INTEGRATION_COLS: Final = (
    "connected",
    "disconnected",
    "used",
    "used_success",
    "used_failed",
    "errors",
    "oauth_started",
    "oauth_completed",
    "oauth_failed",
)


async def integration_health(
    db: asyncpg.Pool[Any] | asyncpg.Connection[Any],
    *,
    start: _dt.date | _dt.datetime,
    end: _dt.date | _dt.datetime,
    provider: str | None = None,
    by_day: bool = True,
) -> list[IntegrationHealthRow]:
    """Integration usage and failures per provider, per day or (``by_day=False``) summed.

    Only providers with activity appear. ``success_rate`` is used_success / used.
    """
    lo, hi = _range(start, end, MAX_DAILY_RANGE)
    lo, hi = _ceil(lo, _DAY), _ceil(hi, _DAY)
    if lo >= hi:
        return []
    args: list[object] = [lo, hi]
    where = "day >= $1 AND day < $2"
    prov = _filter(provider, "provider")
    if prov is not None:
        args.append(prov)
        where += " AND provider = $3"
    keys = ["day", "provider"] if by_day else ["provider"]
    sums = ", ".join(f"coalesce(sum({c}), 0)::bigint AS {c}" for c in _INTEGRATION_COLS)
    day_col = "day" if by_day else "NULL::timestamptz AS day"
    sql = f"""
SELECT {day_col}, provider, {sums},
       coalesce(sum(used_duration_sum_ms), 0)::float8 AS used_duration_sum_ms
FROM analytics_integration_health_daily
WHERE {where}
GROUP BY {", ".join(keys)}
ORDER BY {", ".join(keys)}
"""
    out: list[IntegrationHealthRow] = []
    for r in await _fetch(db, sql, *args):
        values = {c: int(r[c]) for c in _INTEGRATION_COLS}
        out.append(
            IntegrationHealthRow(
                day=_dt_or_none(r["day"]),
                provider=r["provider"],
                success_rate=_ratio(values["used_success"], values["used"]),
                avg_used_duration_ms=_ratio(float(r["used_duration_sum_ms"]), values["used"]),
                **values,
            )
        )
    return out


_AUTH_COLS: Final = (
    "login_attempts",
    "login_success",
    "login_failed",
    "codes_verified",
    "codes_failed",
    "token_refreshes",
    "token_refresh_failed",
    "sessions_validated",
    "sessions_invalid",
)
_COCOON_COLS: Final = (
    "registered",
    "connected",
    "disconnected",
    "claimed",
    "setup_tokens_created",
    "setup_tokens_used",
    "session_duration_sum_ms",
)


def _daily_sql(table: str, columns: Sequence[str]) -> str:
    sums = ", ".join(f"coalesce(sum(t.{c}), 0)::bigint AS {c}" for c in columns)
    return f"""
WITH days AS (
    SELECT d AS day FROM generate_series($1::timestamptz, $2::timestamptz, interval '24 hours') d
)
SELECT days.day, {sums}
FROM days LEFT JOIN {table} t ON t.day = days.day
GROUP BY days.day
ORDER BY days.day
"""


_AUTH_SQL: Final = _daily_sql("analytics_auth_events_daily", _AUTH_COLS)
_COCOON_SQL: Final = _daily_sql("analytics_cocoon_activity_daily", _COCOON_COLS)


async def auth_metrics(
    db: asyncpg.Pool[Any] | asyncpg.Connection[Any],
    *,
    start: _dt.date | _dt.datetime,
    end: _dt.date | _dt.datetime,
) -> list[AuthMetricsRow]:
    """Logins, login codes, token refreshes and session checks per day."""
    out: list[AuthMetricsRow] = []
    for r in await _fetch_days(db, _AUTH_SQL, start, end, MAX_DAILY_RANGE):
        values = {c: int(r[c]) for c in _AUTH_COLS}
        out.append(
            AuthMetricsRow(
                day=r["day"],
                login_success_rate=_ratio(values["login_success"], values["login_attempts"]),
                **values,
            )
        )
    return out


async def cocoon_activity(
    db: asyncpg.Pool[Any] | asyncpg.Connection[Any],
    *,
    start: _dt.date | _dt.datetime,
    end: _dt.date | _dt.datetime,
) -> list[CocoonActivityRow]:
    """Cocoon registrations, connections, claims and setup tokens per day."""
    return [
        CocoonActivityRow(day=r["day"], **{c: int(r[c]) for c in _COCOON_COLS})
        for r in await _fetch_days(db, _COCOON_SQL, start, end, MAX_DAILY_RANGE)
    ]


def _error_filters(
    lo: _dt.datetime, hi: _dt.datetime, service: str | None, error_type: str | None
) -> tuple[str, list[object]]:
    args: list[object] = [lo, hi]
    where = ["hour >= $1", "hour < $2"]
    _equals(
        where,
        args,
        {"service": _filter(service, "service"), "error_type": _filter(error_type, "error_type")},
    )
    return " AND ".join(where), args


_make_error: Final = fast_rows(ErrorRow, epoch="hour")


async def errors(
    db: asyncpg.Pool[Any] | asyncpg.Connection[Any],
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
    where, args = _error_filters(lo, hi, service, error_type)
    args.append(lim)
    sql = f"""
SELECT {epoch_sql("hour")}, service, error_type, errors::bigint AS errors, sample_message
FROM analytics_errors_hourly
WHERE {where}
ORDER BY hour, service, error_type
LIMIT ${len(args)}
"""
    return build_rows(_make_error, await _fetch(db, sql, *args))


async def top_errors(
    db: asyncpg.Pool[Any] | asyncpg.Connection[Any],
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
    where, args = _error_filters(lo, hi, service, None)
    args.append(lim)
    # The latest sample is looked up for the returned pairs only (one index probe each),
    # not aggregated for every pair: the cost follows the rows returned.
    sql = f"""
WITH top AS (
    SELECT service, error_type, sum(errors)::bigint AS errors,
           min(hour) AS first_seen, max(hour) AS last_seen
    FROM analytics_errors_hourly
    WHERE {where}
    GROUP BY service, error_type
    ORDER BY errors DESC, service, error_type
    LIMIT ${len(args)}
)
SELECT top.*,
       (SELECT x.sample_message FROM analytics_errors_hourly x
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
        for r in await _fetch(db, sql, *args)
    ]


_SERVICES_SQL = """
SELECT service FROM analytics_api_day_service WHERE bucket >= $1
UNION
SELECT service FROM analytics_errors_hourly WHERE hour >= $1
ORDER BY service
"""


async def list_services(
    db: asyncpg.Pool[Any] | asyncpg.Connection[Any],
    *,
    since: _dt.date | _dt.datetime | None = None,
) -> list[str]:
    """Services that served API requests or reported errors since ``since``.

    Defaults to the last 90 days (the raw retention): the values a service filter offers.
    """
    lo = (
        _as_utc(since, "since")
        if since is not None
        else _dt.datetime.now(_UTC) - _dt.timedelta(days=90)
    )
    lo = _ceil(lo, _DAY) - _DAY
    return [str(r["service"]) for r in await _fetch(db, _SERVICES_SQL, lo)]
