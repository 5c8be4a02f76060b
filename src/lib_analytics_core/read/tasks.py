"""Task outcomes per day: counts, success rate and the duration distribution."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

from ._common import MAX_DAILY_RANGE, _fetch_days, _max_ms, _ratio, _value
from ._exec import Db
from ._sql import QUERIES

__all__ = ["TaskStatsRow", "task_stats"]


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


async def task_stats(
    db: Db, *, start: _dt.date | _dt.datetime, end: _dt.date | _dt.datetime
) -> list[TaskStatsRow]:
    """Task counts per day, success rate, and the duration of finished tasks.

    Durations that are not a number in ``[0, 1e11]`` ms are left out of the duration
    figures (negative ones count as 0), by the rules of ``docs/schema.md``.
    """
    out: list[TaskStatsRow] = []
    rows = await _fetch_days(
        db,
        "tasks.task_stats",
        QUERIES["task_stats"],
        start=start,
        end=end,
        max_range=MAX_DAILY_RANGE,
    )
    for r in rows:
        n = int(r["duration_count"])
        completed, failed = int(r["completed"]), int(r["failed"])
        top = _max_ms(r["duration_max_ms"])
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
                p50_duration_ms=_value(r["p50_key"], top),
                p95_duration_ms=_value(r["p95_key"], top),
                max_duration_ms=top,
            )
        )
    return out
