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
* Dates and times must lie in ``[EARLIEST, now + MAX_FUTURE]``: ``datetime.min``/``max``
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
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import asyncpg

from .._errors import DatabaseError, DatabaseUnavailableError, QueryError
from . import histogram as _histogram

__all__ = [
    "DEFAULT_LIMIT",
    "EARLIEST",
    "MAX_ACTIVE_USERS_RANGE",
    "MAX_DAILY_RANGE",
    "MAX_FUTURE",
    "MAX_HOURLY_RANGE",
    "MAX_LIMIT",
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

#: Longest range of a daily series (two years): bounds the work per request.
MAX_DAILY_RANGE: Final = _dt.timedelta(days=732)
#: Longest range read from an hourly aggregate (three months, ~2,200 buckets per series).
MAX_HOURLY_RANGE: Final = _dt.timedelta(days=93)
#: Longest DAU/WAU/MAU series: each day's MAU is an exact distinct count over 30 days of
#: user rows, so this is the most expensive question per day of range.
MAX_ACTIVE_USERS_RANGE: Final = _dt.timedelta(days=400)
#: Rows returned by the multi-row queries when no limit is given, and the hard cap.
DEFAULT_LIMIT: Final = 10_000
MAX_LIMIT: Final = 100_000
#: Default and maximum rows of :func:`top_errors`.
DEFAULT_TOP_ERRORS: Final = 20
MAX_TOP_ERRORS: Final = 1_000
#: No date or time before this is accepted (nothing the library stores is older).
EARLIEST: Final = _dt.datetime(2000, 1, 1, tzinfo=_dt.UTC)
#: Nor more than this far ahead of now (clock skew and "tomorrow" are fine; year 9999 is not).
MAX_FUTURE: Final = _dt.timedelta(days=366)
#: Filters compare against VARCHAR(100) columns; longer values can match nothing.
_MAX_FILTER_LEN: Final = 200

_UTC = _dt.UTC
_DAY = _dt.timedelta(days=1)
_HOUR = _dt.timedelta(hours=1)

Granularity = Literal["hour", "day", "total"]
LatencyGroupBy = Literal["total", "service", "endpoint"]


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


# ----------------------------------------------------------------------- validation


def _as_utc(value: object, name: str) -> _dt.datetime:
    """``value`` as an aware UTC datetime inside ``[EARLIEST, now + MAX_FUTURE]``."""
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise QueryError(
                f"{name} must be timezone-aware (the aggregates are bucketed in UTC), "
                f"got naive {value.isoformat()}"
            )
        try:
            out = value.astimezone(_UTC)
        except OverflowError as err:  # datetime.min/max with an offset
            raise QueryError(f"{name} {value.isoformat()} is out of range") from err
    elif isinstance(value, _dt.date):
        out = _dt.datetime(value.year, value.month, value.day, tzinfo=_UTC)
    else:
        raise QueryError(f"{name} must be a date or a timezone-aware datetime, got {value!r}")
    latest = _dt.datetime.now(_UTC) + MAX_FUTURE
    if not EARLIEST <= out <= latest:
        raise QueryError(
            f"{name} {out.isoformat()} is outside the accepted window "
            f"[{EARLIEST.date().isoformat()}, now + {MAX_FUTURE.days} days]"
        )
    return out


def _range(
    start: _dt.date | _dt.datetime, end: _dt.date | _dt.datetime, maximum: _dt.timedelta
) -> tuple[_dt.datetime, _dt.datetime]:
    lo = _as_utc(start, "start")
    hi = _as_utc(end, "end")
    if lo >= hi:
        raise QueryError(f"start ({lo.isoformat()}) must be before end ({hi.isoformat()})")
    if hi - lo > maximum:
        raise QueryError(
            f"range of {_days(hi - lo)} is longer than the maximum of {_days(maximum)} "
            "for this query"
        )
    return lo, hi


def _days(delta: _dt.timedelta) -> str:
    days = delta.total_seconds() / 86_400
    return f"{days:g} days"


def _ceil(value: _dt.datetime, step: _dt.timedelta) -> _dt.datetime:
    """The first bucket start at or after ``value`` (buckets aligned on the UTC epoch)."""
    epoch = _dt.datetime(1970, 1, 1, tzinfo=_UTC)
    n, rem = divmod(value - epoch, step)
    return epoch + (n + (1 if rem else 0)) * step


def _day_series(lo: _dt.datetime, hi: _dt.datetime) -> tuple[_dt.datetime, _dt.datetime] | None:
    """First and last day bucket whose start lies in ``[lo, hi)``, or None if none does."""
    first = _ceil(lo, _DAY)
    last = _ceil(hi, _DAY) - _DAY
    return (first, last) if first <= last else None


def _limit(value: int, default_max: int, name: str = "limit") -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise QueryError(f"{name} must be an integer, got {value!r}")
    if not 1 <= value <= default_max:
        raise QueryError(f"{name} must be between 1 and {default_max}, got {value}")
    return value


def _filter(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > _MAX_FILTER_LEN:
        raise QueryError(f"{name} must be a non-empty string of at most {_MAX_FILTER_LEN} chars")
    return value


# --------------------------------------------------------------------------- helpers


async def _fetch(db: Any, sql: str, *args: object) -> list[asyncpg.Record]:
    """Run one read; translate driver errors so callers catch the library's types."""
    try:
        rows: list[asyncpg.Record] = await db.fetch(sql, *args)
    except asyncpg.UndefinedTableError as err:
        raise DatabaseError(
            "the analytics aggregates do not exist in this database: run the migrations "
            "(`analytics-migrate all`) first"
        ) from err
    except asyncpg.InsufficientPrivilegeError as err:
        raise DatabaseError(
            "permission denied reading the analytics aggregates: grant the role "
            "analytics_reader to this login (see docs)"
        ) from err
    except (asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError) as err:
        raise DatabaseUnavailableError(f"database unavailable: {err}") from err
    except asyncpg.PostgresError as err:
        raise DatabaseError(f"analytics query failed ({err.sqlstate}): {err}") from err
    except (OSError, TimeoutError, asyncpg.InterfaceError) as err:
        raise DatabaseUnavailableError(f"database unavailable: {type(err).__name__}") from err
    return rows


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def _value(key: object) -> float | None:
    """A precomputed percentile bucket key as milliseconds."""
    return None if key is None else _histogram.representative(int(key))  # type: ignore[call-overload]


def _max_ms(value: object) -> int | None:
    return None if value is None else round(value)  # type: ignore[call-overload]


async def _fetch_days(
    db: Any,
    sql: str,
    start: _dt.date | _dt.datetime,
    end: _dt.date | _dt.datetime,
    max_range: _dt.timedelta,
) -> list[asyncpg.Record]:
    """Rows of a one-row-per-day query over the validated range ``[start, end)``."""
    lo, hi = _range(start, end, max_range)
    days = _day_series(lo, hi)
    if days is None:
        return []
    return await _fetch(db, sql, *days)


def _dt_or_none(value: object) -> _dt.datetime | None:
    return value if isinstance(value, _dt.datetime) else None


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
                p50_duration_ms=_value(r["p50_key"]),
                p95_duration_ms=_value(r["p95_key"]),
                max_duration_ms=_max_ms(r["duration_max_ms"]),
            )
        )
    return out


_GROUP_COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "total": (),
    "service": ("service",),
    "endpoint": ("service", "endpoint", "method"),
}
_COUNT_COLUMNS: Final = (
    "coalesce(sum(requests), 0)::bigint AS requests, "
    "coalesce(sum(requests_estimated), 0)::float8 AS requests_estimated, "
    "coalesce(sum(errors_4xx), 0)::bigint AS errors_4xx, "
    "coalesce(sum(errors_5xx), 0)::bigint AS errors_5xx, "
    "coalesce(sum(duration_count), 0)::bigint AS duration_count, "
    "coalesce(sum(duration_sum_ms), 0)::float8 AS duration_sum_ms, "
    "max(duration_max_ms) AS duration_max_ms"
)


def _latency_range(
    start: _dt.date | _dt.datetime, end: _dt.date | _dt.datetime, granularity: Granularity
) -> tuple[_dt.datetime, _dt.datetime, str]:
    """Validated bucket-aligned bounds and the rollup width ("hour"/"day") to read."""
    if granularity == "day":
        lo, hi = _range(start, end, MAX_DAILY_RANGE)
        return _ceil(lo, _DAY), _ceil(hi, _DAY), "day"
    if granularity == "hour":
        lo, hi = _range(start, end, MAX_HOURLY_RANGE)
        return _ceil(lo, _HOUR), _ceil(hi, _HOUR), "hour"
    lo, hi = _range(start, end, MAX_DAILY_RANGE)
    aligned = _ceil(lo, _DAY) == lo and _ceil(hi, _DAY) == hi
    if not aligned and hi - lo > MAX_HOURLY_RANGE:
        raise QueryError(
            f"a 'total' over more than {_days(MAX_HOURLY_RANGE)} must start and end at "
            "midnight UTC (whole days)"
        )
    return _ceil(lo, _HOUR), _ceil(hi, _HOUR), "day" if aligned else "hour"


def _rollup_for(group_by: str, filters: dict[str, str | None]) -> tuple[str, tuple[str, ...]]:
    """The coarsest rollup level holding every column the question groups or filters by.

    Reading ``total`` for an all-services chart, ``service`` for a per-service one, and the
    endpoint grain only when endpoints or methods are asked about keeps the rows read
    proportional to the rows returned.
    """
    needed = set(_GROUP_COLUMNS[group_by]) | {c for c, v in filters.items() if v is not None}
    if needed & {"endpoint", "method"}:
        return "endpoint", _GROUP_COLUMNS["endpoint"]
    if "service" in needed:
        return "service", _GROUP_COLUMNS["service"]
    return "total", ()


def _latency_sql(
    table: str, *, group_cols: list[str], where: list[str], precomputed: bool, limit_arg: int
) -> str:
    """SQL for one latency question.

    ``precomputed``: every dimension of the rollup is grouped by or fixed by a filter, so
    each output row is exactly one stored row, read with its percentile keys (at most
    ``$limit_arg`` rows). Otherwise the stored rows are returned ordered by the output
    group, with their histograms, for :func:`_merge_latency` (measured: merging in Python
    costs half of ``unnest`` + ``GROUP BY key`` in SQL at 1M events, 90 days by endpoint).
    """
    keys = [
        "bucket" if "bucket" in group_cols else "NULL::timestamptz AS bucket",
        *(
            c if c in group_cols else f"NULL::text AS {c}"
            for c in ("service", "endpoint", "method")
        ),
    ]
    order = f"ORDER BY {', '.join(group_cols)}" if group_cols else ""
    counts = (
        "requests, requests_estimated, errors_4xx, errors_5xx, duration_count, "
        "duration_sum_ms, duration_max_ms"
    )
    if precomputed:
        return f"""
SELECT {", ".join(keys)}, {counts}, p50_key, p95_key, p99_key
FROM {table}
WHERE {" AND ".join(where)}
{order}
LIMIT ${limit_arg}
"""
    return f"""
SELECT {", ".join(keys)}, {counts}, hist_keys, hist_counts
FROM {table}
WHERE {" AND ".join(where)}
{order}
"""


def _latency_row(r: Any, pcts: Sequence[float | None], **totals: Any) -> ApiLatencyRow:
    requests = int(totals["requests"])
    e4, e5 = int(totals["errors_4xx"]), int(totals["errors_5xx"])
    return ApiLatencyRow(
        bucket=_dt_or_none(r["bucket"]),
        service=r["service"],
        endpoint=r["endpoint"],
        method=r["method"],
        requests=requests,
        requests_estimated=float(totals["requests_estimated"]),
        errors_4xx=e4,
        errors_5xx=e5,
        error_rate=_ratio(e4 + e5, requests),
        avg_ms=_ratio(float(totals["duration_sum_ms"]), int(totals["duration_count"])),
        p50_ms=pcts[0],
        p95_ms=pcts[1],
        p99_ms=pcts[2],
        max_ms=_max_ms(totals["duration_max_ms"]),
    )


_SUMMED: Final = (
    "requests",
    "requests_estimated",
    "errors_4xx",
    "errors_5xx",
    "duration_count",
    "duration_sum_ms",
)


def _merge_latency(
    records: list[asyncpg.Record], group_cols: list[str], limit: int
) -> list[ApiLatencyRow]:
    """Sum the counts and merge the histograms of consecutive rows of one output group."""
    out: list[ApiLatencyRow] = []
    for _key, group in itertools.groupby(records, key=lambda r: tuple(r[c] for c in group_cols)):
        rows = list(group)
        totals: dict[str, Any] = {c: sum(r[c] for r in rows) for c in _SUMMED}
        maxima = [r["duration_max_ms"] for r in rows if r["duration_max_ms"] is not None]
        totals["duration_max_ms"] = max(maxima) if maxima else None
        keys, counts = _histogram.merge((r["hist_keys"], r["hist_counts"]) for r in rows)
        out.append(_latency_row(rows[0], _histogram.percentiles(keys, counts, _QS), **totals))
        if len(out) >= limit:
            break
    return out


_QS: Final = (0.50, 0.95, 0.99)


async def api_latency(
    db: asyncpg.Pool[Any] | asyncpg.Connection[Any],
    *,
    start: _dt.date | _dt.datetime,
    end: _dt.date | _dt.datetime,
    granularity: Granularity = "hour",
    group_by: LatencyGroupBy = "service",
    service: str | None = None,
    endpoint: str | None = None,
    method: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> list[ApiLatencyRow]:
    """Request counts, 4xx/5xx and p50/p95/p99 latency per bucket and group.

    ``granularity="hour"`` reads hourly rollups (ranges up to :data:`MAX_HOURLY_RANGE`),
    ``"day"`` daily ones (up to :data:`MAX_DAILY_RANGE`), ``"total"`` one row per group for
    the whole range (daily rollups when the range is whole days, hourly ones otherwise).
    The rollup level (all services, per service, per endpoint) is the coarsest that holds
    the group-by and filter columns. Percentiles are within 1 % of the exact values
    (:mod:`.histogram`); merging histograms is exact, never an average of percentiles.
    ``avg_ms`` is over the requests with a usable duration. Rows are ordered by bucket,
    then by the group columns; at most ``limit`` are returned.
    """
    if granularity not in ("hour", "day", "total"):
        raise QueryError(f"granularity must be 'hour', 'day' or 'total', not {granularity!r}")
    if group_by not in _GROUP_COLUMNS:
        raise QueryError(f"group_by must be 'total', 'service' or 'endpoint', not {group_by!r}")
    lim = _limit(limit, MAX_LIMIT)
    filters = {
        "service": _filter(service, "service"),
        "endpoint": _filter(endpoint, "endpoint"),
        "method": None if method is None else _filter(method, "method"),
    }
    if filters["method"] is not None:
        filters["method"] = filters["method"].upper()

    lo, hi, width = _latency_range(start, end, granularity)
    if lo >= hi:
        return []
    level, dims = _rollup_for(group_by, filters)
    table = f"analytics_api_{width}_{level}"

    args: list[object] = [lo, hi]
    where = ["bucket >= $1", "bucket < $2"]
    for column, value in filters.items():
        if value is not None:
            args.append(value)
            where.append(f"{column} = ${len(args)}")
    group_cols = list(_GROUP_COLUMNS[group_by])
    if granularity != "total":
        group_cols.insert(0, "bucket")
    fixed = {c for c, v in filters.items() if v is not None}
    precomputed = "bucket" in group_cols and all(d in group_cols or d in fixed for d in dims)
    if precomputed:
        args.append(lim)
    sql = _latency_sql(
        table, group_cols=group_cols, where=where, precomputed=precomputed, limit_arg=len(args)
    )
    records = await _fetch(db, sql, *args)
    if not precomputed:
        return _merge_latency(records, group_cols, lim)
    return [
        _latency_row(r, (_value(r["p50_key"]), _value(r["p95_key"]), _value(r["p99_key"])), **r)
        for r in records
    ]


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
    for column, value in (
        ("service", _filter(service, "service")),
        ("error_type", _filter(error_type, "error_type")),
    ):
        if value is not None:
            args.append(value)
            where.append(f"{column} = ${len(args)}")
    return " AND ".join(where), args


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
SELECT hour, service, error_type, errors::bigint AS errors, sample_message
FROM analytics_errors_hourly
WHERE {where}
ORDER BY hour, service, error_type
LIMIT ${len(args)}
"""
    return [
        ErrorRow(
            hour=r["hour"],
            service=r["service"],
            error_type=r["error_type"],
            errors=int(r["errors"]),
            sample_message=r["sample_message"],
        )
        for r in await _fetch(db, sql, *args)
    ]


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
    sql = f"""
SELECT service, error_type, sum(errors)::bigint AS errors,
       min(hour) AS first_seen, max(hour) AS last_seen,
       (array_agg(sample_message ORDER BY hour DESC)
            FILTER (WHERE sample_message IS NOT NULL))[1] AS sample_message
FROM analytics_errors_hourly
WHERE {where}
GROUP BY service, error_type
ORDER BY errors DESC, service, error_type
LIMIT ${len(args)}
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
