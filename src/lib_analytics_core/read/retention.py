"""Retention: do the users who first did C in period N come back in the periods after?

The definition (issue 26; ``docs/api.md`` and ``tests/_funnel_reference.py`` say the
same): with a cohort event C, a return event R (default: any event), a period (``day``,
``week`` starting Monday, ``month``; UTC) and a range ``[start, end)``:

* a user's **cohort** is the period of their first C event in the range (ties at one
  instant: the smallest event id; its ``service`` is the user's for a breakdown);
* ``returned[0]`` is the cohort's size and ``returned[k]`` (k >= 1) the number of its
  users with at least one R event (any time in that period, after ``end`` too) in the
  k-th period after the cohort's;
* periods that have not begun (their start is after ``as_of``, the time of the answer)
  are omitted, so the newest cohorts have the shortest lists; at most ``periods``
  periods after each cohort are followed (default: as many as the range has).

Cost: one statement; the cohort events (index on ``event_type, "timestamp"``) and the
return events from the period after the first cohort to the last period followed,
each reduced to distinct (user, period) before the join. ``R`` = any event would read
every event of the cohort users in those periods (10M rows at the benchmark's size),
so it reads the per-user rollups instead where they are current (``_active_days``):
(week, user) rows for whole weeks (``WEEKLY_ACTIVE_USERS``, about 1.1M for 12 weekly
cohorts at 10M events), (day, user) rows for the other days (the week in progress,
and any period but a week), raw rows for the days the rollups may lack.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Final, Literal, get_args

from .._errors import QueryError
from ..schema.facts import (
    BUCKET_ORIGIN_SQL,
    DAILY_ACTIVE_USERS,
    EVENTS_TABLE,
    WEEKLY_ACTIVE_USERS,
)
from . import _active_days, _exec
from ._common import _filter, _range
from ._raw import DEFAULT_TOP, check_raw_horizon, clock, top_n, tops_sql

__all__ = [
    "MAX_PERIODS",
    "MAX_RANGE",
    "Cohort",
    "Period",
    "RetentionGroup",
    "RetentionResult",
    "add_periods",
    "period_start",
    "retention",
]

Period = Literal["day", "week", "month"]
#: Periods followed after a cohort at most (a year and a month of days).
MAX_PERIODS: Final = 400
#: Longest range of cohorts: what raw retention keeps (older starts are refused anyway).
MAX_RANGE: Final = _dt.timedelta(days=92)
_UTC = _dt.UTC
#: A period's number (periods since an epoch), in SQL: the join key of cohorts and
#: returns. 1970-01-05 (epoch + 345,600 s) is a Monday.
_INDEX: Final = {
    # date_part (double precision), not extract (numeric since PostgreSQL 14): it is
    # computed per (user, day) row, millions of them, and numeric arithmetic cost
    # 1.5 s of a 9 s plan at 10M events. Exact: the argument is always a period's
    # start, a whole number of seconds since the epoch.
    "day": "floor(date_part('epoch', {t}) / 86400)::int",
    "week": "floor((date_part('epoch', {t}) - 345600) / 604800)::int",
    "month": "(date_part('year', {t} AT TIME ZONE 'UTC') * 12"
    " + date_part('month', {t} AT TIME ZONE 'UTC') - 1)::int",
}
#: A period's start, in SQL: cheap per raw row (integer arithmetic for days and weeks),
#: so the return events are reduced to distinct (user, period) before any numbering.
_START: Final = {
    "day": f"date_bin(INTERVAL '1 day', {{t}}, {BUCKET_ORIGIN_SQL})",
    "week": f"date_bin(INTERVAL '7 days', {{t}}, {BUCKET_ORIGIN_SQL})",
    "month": "date_trunc('month', {t}, 'UTC')",
}


@dataclass(frozen=True, slots=True)
class Cohort:
    """One cohort: its period's start, its size and ``returned`` (index 0: the size)."""

    period_start: _dt.datetime
    size: int
    returned: list[int]


@dataclass(frozen=True, slots=True)
class RetentionGroup:
    """The cohorts of the users whose cohort event came from service ``value`` (or, with
    ``other``, from any service outside the top ones)."""

    value: str | None
    other: bool
    cohorts: list[Cohort]


@dataclass(frozen=True, slots=True)
class RetentionResult:
    start: _dt.datetime
    end: _dt.datetime
    period: str
    periods: int
    as_of: _dt.datetime
    cohorts: list[Cohort]
    breakdown: str | None = None
    groups: list[RetentionGroup] | None = None


def period_start(t: _dt.datetime, period: str) -> _dt.datetime:
    """The start of the UTC period holding ``t``."""
    t = t.astimezone(_UTC)
    day = _dt.datetime(t.year, t.month, t.day, tzinfo=_UTC)
    if period == "week":
        return day - _dt.timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


def add_periods(p: _dt.datetime, n: int, period: str) -> _dt.datetime:
    """``p`` (a period start) moved by ``n`` periods."""
    if period == "week":
        return p + _dt.timedelta(weeks=n)
    if period == "month":
        months = p.year * 12 + p.month - 1 + n
        return p.replace(year=months // 12, month=months % 12 + 1)
    return p + _dt.timedelta(days=n)


def _index(t: _dt.datetime, period: str) -> int:
    if period == "month":
        return t.year * 12 + t.month - 1
    days = (period_start(t, period) - _dt.datetime(1970, 1, 5, tzinfo=_UTC)).days
    return days // 7 if period == "week" else days + 4


def _from_index(i: int, period: str) -> _dt.datetime:
    if period == "month":
        return _dt.datetime(i // 12, i % 12 + 1, 1, tzinfo=_UTC)
    monday = _dt.datetime(1970, 1, 5, tzinfo=_UTC)
    return monday + (_dt.timedelta(weeks=i) if period == "week" else _dt.timedelta(days=i - 4))


async def retention(
    db: _exec.Db,
    *,
    start: _dt.date | _dt.datetime,
    end: _dt.date | _dt.datetime,
    cohort_event: str,
    return_event: str | None = None,
    period: Period = "week",
    periods: int | None = None,
    breakdown: Literal["service"] | None = None,
    top: int = DEFAULT_TOP,
) -> RetentionResult:
    """The cohorts of ``cohort_event`` in ``[start, end)`` per ``period`` and who of
    them returned (``return_event``; None: any event), optionally by the cohort event's
    service (module docstring)."""
    if period not in get_args(Period):
        raise QueryError(f"period must be 'day', 'week' or 'month', not {period!r}")
    lo, hi = _range(start, end, MAX_RANGE)
    check_raw_horizon(lo, "retention cohorts")
    c_event = _filter(cohort_event, "cohort_event") or ""
    r_event = _filter(return_event, "return_event")
    if breakdown not in (None, "service"):
        raise QueryError(f"retention breaks down by 'service' only, not {breakdown!r}")
    if breakdown is not None:
        top = top_n(top)
    first = period_start(lo, period)
    last = period_start(hi - _dt.timedelta(microseconds=1), period)
    if periods is None:
        periods = min(MAX_PERIODS, _index(last, period) - _index(first, period) + 1)
    if isinstance(periods, bool) or not isinstance(periods, int) or not 1 <= periods <= MAX_PERIODS:
        raise QueryError(f"periods must be an integer between 1 and {MAX_PERIODS}")
    as_of = clock()
    r_lo = add_periods(first, 1, period)
    r_hi = min(add_periods(last, periods + 1, period), as_of)
    rollup = await _active_days.source(db) if r_event is None else None
    sql, params = _sql(
        period, lo, hi, c_event, r_event, r_lo, r_hi, periods, breakdown, top, rollup
    )
    records = await _exec.fetch(db, "retention.retention", sql, *params.values, heavy=True)
    cells: dict[tuple[bool, str | None, bool], dict[int, dict[int, int]]] = {}
    for r in records:
        key = (bool(r["total"]), r["g"], bool(r["o"]))
        cells.setdefault(key, {}).setdefault(r["ci"], {})[r["k"]] = int(r["n"])

    def cohorts(by: dict[int, dict[int, int]]) -> list[Cohort]:
        out = []
        for ci in sorted(by):
            p = _from_index(ci, period)
            returned = [by[ci].get(0, 0)]
            for k in range(1, periods + 1):
                if add_periods(p, k, period) > as_of:
                    break
                returned.append(by[ci].get(k, 0))
            out.append(Cohort(p, returned[0], returned))
        return out

    groups = [RetentionGroup(g, o, cohorts(by)) for (total, g, o), by in cells.items() if not total]
    groups.sort(key=lambda x: (x.other, -sum(c.size for c in x.cohorts), (x.value or "").encode()))
    return RetentionResult(
        start=lo,
        end=hi,
        period=period,
        periods=periods,
        as_of=as_of,
        cohorts=cohorts(cells.get((True, None, False), {})),
        breakdown=breakdown,
        groups=groups if breakdown is not None else None,
    )


def _sql(  # noqa: PLR0917 - one statement's parts
    period: str,
    lo: _dt.datetime,
    hi: _dt.datetime,
    c_event: str,
    r_event: str | None,
    r_lo: _dt.datetime,
    r_hi: _dt.datetime,
    periods: int,
    breakdown: str | None,
    top: int,
    rollup: _active_days.Source | None = None,
) -> tuple[str, _exec.Params]:
    params = _exec.Params(lo, hi, c_event, r_lo, r_hi, periods)
    idx = _INDEX[period]
    r_type = f"event_type = {params.add(r_event)} AND " if r_event is not None else ""
    group = "NULL::text AS g, false AS o"
    tops = ""
    if breakdown is not None:
        n = params.add(top)
        tops = f", tops AS ({tops_sql('c', 's', n)})"
        group = (
            "CASE WHEN array_position(tops.t, s) IS NOT NULL THEN s END AS g,"
            " array_position(tops.t, s) IS NULL AS o"
        )
    total, grouping = "true AS total", "ci, k, g, o"
    if breakdown is not None:
        total, grouping = "GROUPING(g, o) = 3 AS total", "GROUPING SETS ((ci, k), (g, o, ci, k))"
    start = _START[period].format(t='"timestamp"')
    sql = f"""
WITH c AS MATERIALIZED (
    SELECT u, {idx.format(t="cb")} AS ci, cb, s FROM (
        SELECT DISTINCT ON (user_id) user_id AS u, {start} AS cb, service::text AS s
        FROM {EVENTS_TABLE}
        WHERE event_type = $3 AND "timestamp" >= $1 AND "timestamp" < $2
          AND user_id IS NOT NULL
        ORDER BY user_id, "timestamp", event_id
    ) AS first
){tops},
labelled AS MATERIALIZED (SELECT u, ci, cb, {group} FROM c{", tops" if tops else ""}),
{_returns(idx, start, r_type, rollup, period)}
SELECT {total}, g, o, ci, k, sum(n) AS n FROM cells GROUP BY {grouping}
"""
    return sql, params


def _returns(
    idx: str, start: str, r_type: str, rollup: _active_days.Source | None, period: str
) -> str:
    """The ``cells`` CTE (and what it needs): one row per cohort user and each period k
    (0: the cohort's own) in which they returned, from the return events in ``[$4, $5)``.

    Any event as the return event, with a readable record of the rollups' current days
    (``_active_days``): by the week, the per-user weekly rollup for the weeks it has
    whole and current (already one row per user and week: nothing to make distinct);
    the per-user daily rollup for the other days it has whole; raw rows for the rest;
    in one snapshot (one statement). Each day of the range is read from exactly one of
    the three; the (user, day) rows are joined to the cohort users first and made
    distinct per (user, period) once. Else raw rows only, reduced to distinct (user,
    period) before the join. ``n``: the users a row of ``cells`` stands for (1)."""
    if rollup is None:
        raw_start = start.replace('"timestamp"', 'e."timestamp"')
        return f"""r AS (
    SELECT u, {idx.format(t="rb")} AS ri FROM (
        SELECT DISTINCT e.user_id AS u, {raw_start} AS rb
        FROM {EVENTS_TABLE} AS e JOIN c ON c.u = e.user_id
        WHERE {r_type.replace("event_type", "e.event_type")}e."timestamp" >= $4
          AND e."timestamp" < $5
    ) AS returns
),
cells AS (
    SELECT ci, g, o, 0 AS k, 1 AS n FROM labelled
    UNION ALL
    SELECT l.ci, l.g, l.o, r.ri - l.ci AS k, 1
    FROM labelled l JOIN r ON r.u = l.u AND r.ri > l.ci AND r.ri <= l.ci + $6
)"""
    day_k = idx.format(t=start.replace('"timestamp"', "{day}")) + " - l.ci"
    stale = f"stale AS MATERIALIZED ({_active_days.stale_days_sql(rollup, '$4', '$5')}\n)"
    weekly = ""
    if period == "week" and rollup.weekly:
        stale += (
            ",\nstale_weeks AS MATERIALIZED ("
            f"{_active_days.stale_weeks_sql(rollup, '$4', '$5', 'stale')}\n)"
        )
        # The weeks a cohort follows (k in 1..$6) are chosen by comparing timestamps,
        # before any period arithmetic, and the (user, week) rows go to the final count
        # as they are. The DISTINCT ON (u), a no-op (c has one row per user), tells the
        # planner that u is unique, so it hashes the cohort users and streams the
        # rollup's 1M rows (it cannot know that of a CTE, and hashed those instead:
        # 2.5x slower).
        weekly = f"""
    SELECT l.ci, l.g, l.o, {idx.format(t="w.week")} - l.ci AS k, 1
    FROM (
        SELECT DISTINCT ON (u) u, ci, g, o, cb, cb + $6 * INTERVAL '168 hours' AS cl
        FROM labelled
    ) AS l
    JOIN {WEEKLY_ACTIVE_USERS} AS w ON w.user_id = l.u
    WHERE w.week >= $4 AND w.week < $5
      AND w.week NOT IN (SELECT week FROM stale_weeks)
      AND w.week > l.cb AND w.week <= l.cl
    UNION ALL"""
    # Per week of stale_weeks, its users from the daily rollup's days that are current
    # (made distinct per week there: one (user, week) row each); per stale day, its
    # users from raw rows.
    days = f"""
        SELECT l.ci, l.g, l.o, {day_k.format(day="d.day")} AS k, l.u
        FROM {DAILY_ACTIVE_USERS} AS d JOIN labelled AS l ON l.u = d.user_id
        WHERE d.day >= $4 AND d.day < $5 AND d.day NOT IN (SELECT day FROM stale)"""
    if weekly:
        # An index range per week; it stops before the day holding $5, which is stale
        # (read raw) whenever $5 is inside it: today, 50k rollup rows at 10M events.
        days = f"""
        SELECT l.ci, l.g, l.o, {day_k.format(day="sw.week")} AS k, l.u
        FROM stale_weeks AS sw
        CROSS JOIN LATERAL (
            SELECT DISTINCT user_id FROM {DAILY_ACTIVE_USERS}
            WHERE day >= greatest(sw.week, $4)
              AND day < least(sw.week + INTERVAL '168 hours', {_active_days.DAY_OF.format(t="$5")})
              AND day NOT IN (SELECT day FROM stale)
        ) AS d
        JOIN labelled AS l ON l.u = d.user_id"""
    return f"""{stale},
cells AS (
    SELECT ci, g, o, 0 AS k, 1 AS n FROM labelled
    UNION ALL{weekly}
    SELECT ci, g, o, k, 1 FROM (
        SELECT DISTINCT ci, g, o, k, u FROM ({days}
            UNION ALL
            SELECT l.ci, l.g, l.o, {day_k.format(day="s.day")}, l.u
            FROM stale AS s
            CROSS JOIN LATERAL (
                SELECT DISTINCT user_id FROM {EVENTS_TABLE}
                WHERE "timestamp" >= greatest(s.day, $4)
                  AND "timestamp" < least(s.day + INTERVAL '24 hours', $5)
                  AND user_id IS NOT NULL
            ) AS e
            JOIN labelled AS l ON l.u = e.user_id
        ) AS returned
        WHERE k BETWEEN 1 AND $6
    ) AS distinct_returns
)"""
