"""Keeping the per-user weekly rollup (``WEEKLY_ACTIVE_USERS``, migration 0020) in step
with the daily one it is derived from, on both tiers.

The reader (``read/_active_days.py``) trusts a week's rows only where the record says
they match the daily rollup, so what matters here is that the record is true in every
committed state, and cheap to keep:

* **partitioned tier**: the frequent refresh (every maintainer tick) only lists the
  weeks of the days it recomputed in ``WEEKLY_PENDING_TABLE``, in its transaction. The
  full refresh (``maintain()``, ``refresh_aggregates()``) recomputes the listed weeks
  and those of the days it recomputed, whole, from the daily rollup, in the
  transaction that recomputed those days;
* **timescale tier**: a continuous aggregate on the daily one, refreshed by its policy
  and by ``maintain()``; TimescaleDB keeps the record itself.

Neither recomputes a week that has not ended (it stays listed, or unmaterialised): a
question's range ends at the time of the answer at the latest, so it cuts the week in
progress, which is therefore always read from the days. Recomputing it would cost a
week of daily rows (1.5-2 s at 10M events) on every pass for rows no one reads.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg

from ._ranges import merge_ranges
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
    now: dt.datetime,
    *,
    full: bool,
) -> None:
    """After the daily rollup's days ``ranges`` were recomputed, in the same transaction:
    list their weeks as pending (``full=False``), or recompute them and every pending
    week from the daily rollup (``full=True``), each that has ended by ``now`` (the
    others are listed). Nothing on a schema before 0020."""
    if not await conn.fetchval(
        "SELECT to_regprocedure('analytics_refresh_weekly_active_users(timestamptz,timestamptz)')"
        " IS NOT NULL"
    ):
        return
    ended = floor_week(now)
    weeks = [(floor_week(lo), ceil_week(hi)) for lo, hi in ranges]
    if full:
        pending = await conn.fetch(
            f"SELECT week FROM {WEEKLY_PENDING_TABLE} WHERE week < $1", ended
        )
        weeks += [(r["week"], r["week"] + _WEEK) for r in pending]
    merged = merge_ranges(weeks)
    listed = merged if not full else [(max(lo, ended), hi) for lo, hi in merged if hi > ended]
    if listed:
        await conn.execute(
            f"""
            INSERT INTO {WEEKLY_PENDING_TABLE} (week)
            SELECT DISTINCT w FROM unnest($1::timestamptz[], $2::timestamptz[]) AS r(lo, hi),
                generate_series(r.lo, r.hi - INTERVAL '1 microsecond', INTERVAL '168 hours') AS w
            ON CONFLICT DO NOTHING
            """,
            [lo for lo, _ in listed],
            [hi for _, hi in listed],
        )
    if full:
        for lo, hi in merged:
            if lo < ended:
                await conn.execute(
                    "SELECT analytics_refresh_weekly_active_users($1, $2)", lo, min(hi, ended)
                )


async def refresh_weekly_timescale(
    conn: asyncpg.Connection[Any], lo: dt.datetime | None, hi: dt.datetime | None, now: dt.datetime
) -> None:
    """Refresh the weekly continuous aggregate over the weeks overlapping ``[lo, hi)``
    that have ended by ``now`` (``lo=None``: from the first; ``hi=None``: to the last
    ended; TimescaleDB recomputes only what changed), after the daily one. Nothing on a
    schema before 0020."""
    if not await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM timescaledb_information.continuous_aggregates"
        " WHERE view_schema = current_schema() AND view_name = $1)",
        WEEKLY_ACTIVE_USERS,
    ):
        return
    start = None if lo is None else floor_week(lo)
    end = floor_week(now) if hi is None else min(ceil_week(hi), floor_week(now))
    if start is not None and start >= end:
        return
    await refresh_cagg(conn, WEEKLY_ACTIVE_USERS, start, end)
