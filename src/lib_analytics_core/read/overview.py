"""The KPI overview: every card of the dashboard for one range, in one answer, and the
same for the previous period of equal length (the cards' change)."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

from . import _exec
from ._common import _DAY, _UTC, MAX_DAILY_RANGE, _as_utc, _ceil, _range, _ratio
from ._sql import QUERIES
from .latency import api_latency
from .window import EARLIEST

__all__ = ["Overview", "OverviewComparison", "overview", "overview_comparison", "previous_period"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Overview:
    """Every KPI card of the dashboard for one range, in one answer.

    ``dau`` is the number of distinct users on ``dau_day``: the last *whole* UTC day
    inside the range, or, when the range holds no whole day that has ended (it covers
    only today), today so far. ``wau``/``mau`` are the distinct users of the 7 and 30
    days ending with ``dau_day``. ``requests``, ``p95_ms`` and ``error_rate`` are the API
    traffic over the whole range (all services); ``task_success_rate`` is completed /
    (completed + failed) over the range. Any of them is None when there is no data.
    """

    start: _dt.datetime
    end: _dt.datetime
    dau: int | None
    dau_day: _dt.datetime | None
    wau: int | None
    mau: int | None
    requests: int
    p95_ms: float | None
    error_rate: float | None
    task_success_rate: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class OverviewComparison:
    """The cards of a range and of the previous period of equal length
    (:func:`previous_period`; None when it would start before ``EARLIEST``)."""

    current: Overview
    previous: Overview | None


def previous_period(start: _dt.datetime, end: _dt.datetime) -> tuple[_dt.datetime, _dt.datetime]:
    """``[start - (end - start), start)``: the period of equal length just before.

    The one definition every comparison uses (the KPI cards, explore's ``compare``).
    """
    return start - (end - start), start


def _dau_day(lo: _dt.datetime, hi: _dt.datetime, now: _dt.datetime) -> _dt.datetime | None:
    """The day ``Overview.dau`` counts (see its docstring); None if the range holds none."""
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    hi_floor = hi if _ceil(hi, _DAY) == hi else _ceil(hi, _DAY) - _DAY
    last = min(hi_floor, today) - _DAY  # the last whole day that has ended
    if last >= lo:
        return last
    if lo < today + _DAY and hi > today:
        return today
    return None


async def overview(
    db: _exec.Db,
    *,
    start: _dt.date | _dt.datetime,
    end: _dt.date | _dt.datetime,
    now: _dt.datetime | None = None,
    service: str | None = None,
) -> Overview:
    """The KPI cards over ``[start, end)`` (definitions in :class:`Overview`); ``service``
    narrows the API cards (requests, p95, error rate), the only ones with a service."""
    lo, hi = _range(start, end, MAX_DAILY_RANGE)
    clock = _dt.datetime.now(_UTC) if now is None else _as_utc(now, "now")
    return await _cards(db, lo, hi, clock, service)


async def overview_comparison(
    db: _exec.Db,
    *,
    start: _dt.date | _dt.datetime,
    end: _dt.date | _dt.datetime,
    now: _dt.datetime | None = None,
    service: str | None = None,
) -> OverviewComparison:
    """The KPI cards over ``[start, end)`` and over the previous period of equal length:
    each card's change (the same ``now`` decides both ``dau_day``s)."""
    lo, hi = _range(start, end, MAX_DAILY_RANGE)
    clock = _dt.datetime.now(_UTC) if now is None else _as_utc(now, "now")
    p_lo, p_hi = previous_period(lo, hi)
    return OverviewComparison(
        current=await _cards(db, lo, hi, clock, service),
        previous=None if p_lo < EARLIEST else await _cards(db, p_lo, p_hi, clock, service),
    )


async def _cards(
    db: _exec.Db, lo: _dt.datetime, hi: _dt.datetime, now: _dt.datetime, service: str | None
) -> Overview:
    day = _dau_day(lo, hi, now)
    totals = await api_latency(
        db, start=lo, end=hi, granularity="total", group_by="total", service=service
    )
    row = await _exec.fetchrow(
        db,
        "overview.overview",
        QUERIES["overview_users_tasks"],
        _ceil(lo, _DAY),
        _ceil(hi, _DAY),
        day,
    )
    assert row is not None
    users, tasks = row["users"], row["tasks"]
    api = totals[0] if totals else None
    completed, failed = (int(tasks[0]), int(tasks[1])) if tasks is not None else (0, 0)
    return Overview(
        start=lo,
        end=hi,
        dau=None if users is None else int(users[0]),
        dau_day=day,
        wau=None if users is None else int(users[1]),
        mau=None if users is None else int(users[2]),
        requests=0 if api is None else api.requests,
        p95_ms=None if api is None else api.p95_ms,
        error_rate=None if api is None else api.error_rate,
        task_success_rate=_ratio(completed, completed + failed),
    )
