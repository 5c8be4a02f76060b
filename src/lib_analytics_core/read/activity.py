"""Active users: DAU, WAU and MAU per day (exact distinct counts)."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

from ._common import MAX_ACTIVE_USERS_RANGE, _fetch_days
from ._exec import Db
from ._sql import QUERIES

__all__ = ["ActiveUsersRow", "active_users"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ActiveUsersRow:
    """Distinct active users on ``day`` and in the 7 and 30 days ending with it (exact)."""

    day: _dt.datetime
    dau: int
    wau: int
    mau: int


async def active_users(
    db: Db, *, start: _dt.date | _dt.datetime, end: _dt.date | _dt.datetime
) -> list[ActiveUsersRow]:
    """DAU, WAU and MAU for each day in ``[start, end)``, exact.

    WAU/MAU of a day count distinct users over the 7/30 days ending with it (so the
    first days of a range look back before ``start``). Exact rather than estimated
    because the aggregate keeps one row per user and day; a sketch would be cheaper but
    makes the numbers disagree with any audit query.
    """
    rows = await _fetch_days(
        db,
        "activity.active_users",
        QUERIES["active_users"],
        start=start,
        end=end,
        max_range=MAX_ACTIVE_USERS_RANGE,
    )
    return [
        ActiveUsersRow(day=r["day"], dau=int(r["dau"]), wau=int(r["wau"]), mau=int(r["mau"]))
        for r in rows
    ]
