"""Plain-Python reference implementations of funnels and retention, written from the
definitions of issue 26 (``read/funnels.py``, ``read/retention.py``), never from their
SQL: a depth-first search over every chain of every entry for the deepest step (no
greedy shortcut), the earliest path step by step, nearest-rank percentiles, calendar
periods with ``datetime``.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from tests._explore_reference import Raw, group_text, matches

UTC = dt.UTC
Step = tuple[str, Sequence[tuple[str, str, Any]]]


def _is_step(step: Step, row: Raw) -> bool:
    etype, filters = step
    return row.event_type == etype and all(matches(f, op, v, row) for f, op, v in filters)


def _nearest_rank(values: list[float], q: float) -> float | None:
    """``percentile_disc``: the smallest value with at least ``q`` of them at or below."""
    if not values:
        return None
    s = sorted(values)
    return s[max(0, math.ceil(q * len(s)) - 1)]


def _deepest(  # noqa: PLR0917 - the search's state
    rows: list[Raw],
    hit: list[list[bool]],
    i: int,
    j: int,
    t1: dt.datetime,
    w: dt.timedelta,
    memo: dict[tuple[int, int], int],
) -> int:
    """The deepest step reachable when row ``i`` is step ``j`` of a chain entered at
    ``t1``: a depth-first search over every later row (memoised per entry)."""
    if (i, j) in memo:
        return memo[i, j]
    best = j
    for n in range(i + 1, len(rows)):
        if j == len(hit[0]) or rows[n].timestamp - t1 > w:
            break
        if rows[n].timestamp > rows[i].timestamp and hit[n][j]:
            best = max(best, _deepest(rows, hit, n, j + 1, t1, w, memo))
    memo[i, j] = best
    return best


def _earliest_path(rows: list[Raw], hit: list[list[bool]], i: int, depth: int) -> list[dt.datetime]:
    """Each step the first matching event after the previous one."""
    path = [rows[i].timestamp]
    for j in range(1, depth):
        path.append(
            min(r.timestamp for n, r in enumerate(rows) if hit[n][j] and r.timestamp > path[-1])
        )
    return path


def funnel(
    rows: Sequence[Raw],
    *,
    start: dt.datetime,
    end: dt.datetime,
    steps: Sequence[Step],
    within: dt.timedelta,
    breakdown: str | None = None,
    top: int = 10,
) -> dict[tuple[str | None, bool] | None, list[tuple[int, float | None, float | None]]]:
    """``{None: overall, (value, other): group}``, each a list per step of (users,
    median seconds from previous, p95 seconds from previous)."""
    k = len(steps)
    by_user: dict[uuid.UUID, list[Raw]] = defaultdict(list)
    for r in rows:
        if r.user_id is not None:
            by_user[r.user_id].append(r)
    users: list[tuple[int, list[dt.datetime], str | None]] = []
    for evs in by_user.values():
        evs.sort(key=lambda r: (r.timestamp, r.event_id))
        hit = [[_is_step(s, r) for s in steps] for r in evs]
        entries = [i for i, r in enumerate(evs) if hit[i][0] and start <= r.timestamp < end]
        if not entries:
            continue
        depths = {i: _deepest(evs, hit, i, 1, evs[i].timestamp, within, {}) for i in entries}
        d = max(depths.values())
        first = min(i for i in entries if depths[i] == d)  # rows are in (time, id) order
        path = _earliest_path(evs, hit, first, d)
        assert path[-1] - path[0] <= within
        value = group_text(breakdown, evs[first]) if breakdown else None
        users.append((d, path, value))

    def answer(chosen: list[tuple[int, list[dt.datetime], str | None]]) -> list[Any]:
        out = []
        for j in range(1, k + 1):
            at = [u for u in chosen if u[0] >= j]
            gaps = [(p[j - 1] - p[j - 2]).total_seconds() for _, p, _ in at] if j > 1 else []
            out.append((len(at), _nearest_rank(gaps, 0.5), _nearest_rank(gaps, 0.95)))
        return out

    result: dict[Any, Any] = {None: answer(users)}
    if breakdown is None:
        return result
    counts = Counter(v for _, _, v in users)
    ranked = sorted(counts, key=lambda v: (-counts[v], v is not None, (v or "").encode()))
    kept = set(ranked[:top])
    groups: dict[tuple[str | None, bool], list[Any]] = defaultdict(list)
    for u in users:
        groups[(u[2], False) if u[2] in kept else (None, True)].append(u)
    for key, chosen in groups.items():
        result[key] = answer(chosen)
    return result


# ------------------------------------------------------------------------ retention


def period_start(t: dt.datetime, period: str) -> dt.datetime:
    t = t.astimezone(UTC)
    day = dt.datetime(t.year, t.month, t.day, tzinfo=UTC)
    if period == "day":
        return day
    if period == "week":
        return day - dt.timedelta(days=day.weekday())
    return day.replace(day=1)


def add_periods(p: dt.datetime, n: int, period: str) -> dt.datetime:
    if period == "day":
        return p + dt.timedelta(days=n)
    if period == "week":
        return p + dt.timedelta(weeks=n)
    months = p.year * 12 + p.month - 1 + n
    return p.replace(year=months // 12, month=months % 12 + 1)


def retention(
    rows: Sequence[Raw],
    *,
    start: dt.datetime,
    end: dt.datetime,
    cohort_event: str,
    return_event: str | None,
    period: str,
    now: dt.datetime,
    periods: int,
    breakdown: bool = False,
    top: int = 10,
) -> dict[tuple[str | None, bool] | None, list[tuple[dt.datetime, list[int]]]]:
    """``{None: cohorts, (service, other): cohorts}``: per cohort period (ascending) the
    list ``returned`` (index 0: the size)."""
    first: dict[uuid.UUID, Raw] = {}
    for r in sorted(rows, key=lambda r: (r.timestamp, r.event_id)):
        if (
            r.user_id is not None
            and r.event_type == cohort_event
            and start <= r.timestamp < end
            and r.user_id not in first
        ):
            first[r.user_id] = r
    returns: dict[uuid.UUID, set[dt.datetime]] = defaultdict(set)
    for r in rows:
        if r.user_id in first and (return_event is None or r.event_type == return_event):
            returns[r.user_id].add(period_start(r.timestamp, period))

    def cohorts(users: list[uuid.UUID]) -> list[tuple[dt.datetime, list[int]]]:
        by: dict[dt.datetime, list[uuid.UUID]] = defaultdict(list)
        for u in users:
            by[period_start(first[u].timestamp, period)].append(u)
        out = []
        for p in sorted(by):
            returned = [len(by[p])]
            n = 1
            while n <= periods and add_periods(p, n, period) <= now:
                target = add_periods(p, n, period)
                returned.append(sum(1 for u in by[p] if target in returns[u]))
                n += 1
            out.append((p, returned))
        return out

    result: dict[Any, Any] = {None: cohorts(list(first))}
    if not breakdown:
        return result
    counts = Counter(r.service for r in first.values())
    ranked = sorted(counts, key=lambda v: (-counts[v], v.encode()))
    kept = set(ranked[:top])
    groups: dict[tuple[str | None, bool], list[uuid.UUID]] = defaultdict(list)
    for u, r in first.items():
        groups[(r.service, False) if r.service in kept else (None, True)].append(u)
    for key, users in groups.items():
        result[key] = cohorts(users)
    return result
