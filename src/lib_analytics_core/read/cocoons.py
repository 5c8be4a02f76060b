"""Cocoon (execution agent) lifecycle per day."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Final

from ..schema.facts import COCOON_ACTIVITY_TABLE
from ._common import MAX_DAILY_RANGE, _fetch_days, daily_sums_sql
from ._exec import Db

__all__ = ["CocoonActivityRow", "cocoon_activity"]


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


_COLUMNS: Final = (
    "registered",
    "connected",
    "disconnected",
    "claimed",
    "setup_tokens_created",
    "setup_tokens_used",
    "session_duration_sum_ms",
)
_SQL: Final = daily_sums_sql(COCOON_ACTIVITY_TABLE, _COLUMNS)


async def cocoon_activity(
    db: Db, *, start: _dt.date | _dt.datetime, end: _dt.date | _dt.datetime
) -> list[CocoonActivityRow]:
    """Cocoon registrations, connections, claims and setup tokens per day."""
    return [
        CocoonActivityRow(day=r["day"], **{c: int(r[c]) for c in _COLUMNS})
        for r in await _fetch_days(
            db, "cocoons.cocoon_activity", _SQL, start=start, end=end, max_range=MAX_DAILY_RANGE
        )
    ]
