"""Keeping the per-user weekly rollup (``WEEKLY_ACTIVE_USERS``, migration 0020) in step
with the daily one it is derived from, on both tiers.

The reader (``read/_active_days.py``) trusts a week's rows only where the record says
they match the daily rollup, so what matters here is that the record is true in every
committed state, and cheap to keep:

* **partitioned tier**: the frequent refresh (every maintainer tick) only lists the
  weeks of the days it recomputed in ``WEEKLY_PENDING_TABLE``, in its transaction: the
  week in progress is always read from the days anyway (the range's end cuts it), and
  recomputing it from 7 days of daily rows every 15 s would be most of a tick's work.
  The full refresh (``maintain()``, ``refresh_aggregates()``) recomputes the listed
  weeks and those of the days it recomputed, whole, from the daily rollup, in the
  transaction that recomputed those days;
* **timescale tier**: a continuous aggregate on the daily one, refreshed by its policy
  and by ``maintain()``; TimescaleDB keeps the record itself.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg

from .facts import BUCKET_ORIGIN, WEEKLY_ACTIVE_USERS, WEEKLY_PENDING_TABLE
from .timescale import refresh_cagg

__all__ = ["ceil_week", "floor_week", "refresh_weekly_partitioned", "refresh_weekly_timescale"]

_WEEK = dt.timedelta(days=7)


def floor_week(t: dt.datetime) -> dt.datetime:
    """Start of the week (Monday 00:00 UTC, the bucket origin's weekday) holding ``t``."""
    return t - (t - BUCKET_ORIGIN) % _WEEK


def ceil_week(t: dt.datetime) -> dt.datetime:
    """``t`` if it starts a week, else the start of the next one."""
    f = floor_week(t)
    return f if f == t else f + _WEEK


async def refresh_weekly_partitioned(
    conn: asyncpg.Connection[Any],
    ranges: tuple[tuple[dt.datetime, dt.datetime], ...],
    *,
    full: bool,
) -> None:
    """After the daily rollup's days ``ranges`` were recomputed, in the same transaction:
    list their weeks as pending (``full=False``) or recompute them and every pending
    week from the daily rollup (``full=True``). Nothing on a schema before 0020."""
    if not await conn.fetchval(
        "SELECT to_regprocedure('analytics_refresh_weekly_active_users(timestamptz,timestamptz)')"
        " IS NOT NULL"
    ):
        return
    if not full:
        if ranges:
            await conn.execute(
                f"""
                INSERT INTO {WEEKLY_PENDING_TABLE} (week)
                SELECT DISTINCT w FROM unnest($1::timestamptz[], $2::timestamptz[]) AS r(lo, hi),
                    generate_series(r.lo, r.hi - INTERVAL '1 microsecond', INTERVAL '7 days') AS w
                ON CONFLICT DO NOTHING
                """,
                [floor_week(lo) for lo, _ in ranges],
                [hi for _, hi in ranges],
            )
        return
    pending = await conn.fetch(f"SELECT week FROM {WEEKLY_PENDING_TABLE}")
    weeks = [(floor_week(lo), ceil_week(hi)) for lo, hi in ranges]
    weeks += [(r["week"], r["week"] + _WEEK) for r in pending]
    merged: list[tuple[dt.datetime, dt.datetime]] = []
    for lo, hi in sorted(weeks):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    for lo, hi in merged:
        await conn.execute("SELECT analytics_refresh_weekly_active_users($1, $2)", lo, hi)


async def refresh_weekly_timescale(
    conn: asyncpg.Connection[Any], lo: dt.datetime | None, hi: dt.datetime | None
) -> None:
    """Refresh the weekly continuous aggregate over the weeks overlapping ``[lo, hi)``
    (``None``: unbounded; TimescaleDB recomputes only what changed), after the daily
    one. Nothing on a schema before 0020."""
    if not await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM timescaledb_information.continuous_aggregates"
        " WHERE view_schema = current_schema() AND view_name = $1)",
        WEEKLY_ACTIVE_USERS,
    ):
        return
    await refresh_cagg(
        conn,
        WEEKLY_ACTIVE_USERS,
        None if lo is None else floor_week(lo),
        None if hi is None else ceil_week(hi),
    )
