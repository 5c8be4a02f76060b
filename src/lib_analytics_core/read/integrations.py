"""Integration usage and failures per provider, per day or summed over the range."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Final

from ..schema.facts import INTEGRATION_HEALTH_TABLE
from . import _exec
from ._common import _DAY, MAX_DAILY_RANGE, _ceil, _dt_or_none, _equals, _filter, _range, _ratio

__all__ = ["IntegrationHealthRow", "integration_health"]


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


_COLUMNS: Final = (
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
    db: _exec.Db,
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
    params = _exec.Params(lo, hi)
    where = ["day >= $1", "day < $2"]
    _equals(where, params, {"provider": _filter(provider, "provider")})
    keys = ["day", "provider"] if by_day else ["provider"]
    sums = ", ".join(f"coalesce(sum({c}), 0)::bigint AS {c}" for c in _COLUMNS)
    day_col = "day" if by_day else "NULL::timestamptz AS day"
    sql = f"""
SELECT {day_col}, provider, {sums},
       coalesce(sum(used_duration_sum_ms), 0)::float8 AS used_duration_sum_ms
FROM {INTEGRATION_HEALTH_TABLE}
WHERE {" AND ".join(where)}
GROUP BY {", ".join(keys)}
ORDER BY {", ".join(keys)}
"""
    out: list[IntegrationHealthRow] = []
    for r in await _exec.fetch(db, "integrations.integration_health", sql, *params.values):
        values = {c: int(r[c]) for c in _COLUMNS}
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
