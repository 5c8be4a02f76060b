"""Authentication activity per day: logins, login codes, token refreshes, sessions."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Final

from ..schema.facts import AUTH_EVENTS_TABLE
from ._common import MAX_DAILY_RANGE, _fetch_days, _ratio, daily_sums_sql
from ._exec import Db

__all__ = ["AuthMetricsRow", "auth_metrics"]


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


_COLUMNS: Final = (
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
_SQL: Final = daily_sums_sql(AUTH_EVENTS_TABLE, _COLUMNS)


async def auth_metrics(
    db: Db, *, start: _dt.date | _dt.datetime, end: _dt.date | _dt.datetime
) -> list[AuthMetricsRow]:
    """Logins, login codes, token refreshes and session checks per day."""
    out: list[AuthMetricsRow] = []
    for r in await _fetch_days(
        db, "auth.auth_metrics", _SQL, start=start, end=end, max_range=MAX_DAILY_RANGE
    ):
        values = {c: int(r[c]) for c in _COLUMNS}
        out.append(
            AuthMetricsRow(
                day=r["day"],
                login_success_rate=_ratio(values["login_success"], values["login_attempts"]),
                **values,
            )
        )
    return out
