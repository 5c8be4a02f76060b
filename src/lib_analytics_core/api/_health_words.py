"""The data's health in the dashboard's words: which panels are behind, since when.

``/v1/health`` is for operators and keeps the schema's names (aggregates, jobs,
migrations: ``SchemaHealth.as_dict``). The people reading the dashboard know panels,
not tables, so the banner gets :func:`behind` (panel, since) and one sentence,
:func:`summary`, built here from the same report. The panel titles are the
dashboard's (``static/index.html``); an aggregate this module does not know still
shows, as "other charts".
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from ..schema.facts import (
    ACTIVE_USERS_TABLE,
    API_LATENCY_DAILY,
    API_LATENCY_HOURLY,
    AUTH_EVENTS_TABLE,
    COCOON_ACTIVITY_TABLE,
    DAILY_ACTIVE_USERS,
    DISTRIBUTIONS,
    ERRORS_TABLE,
    EVENT_TRENDS_DAILY,
    EVENT_TRENDS_HOURLY,
    INTEGRATION_HEALTH_TABLE,
    TASK_DURATIONS_TABLE,
    TASK_STATS_TABLE,
)
from ..schema.health import SchemaHealth

__all__ = ["behind", "summary"]

_API: Final = ("KPI cards", "API latency", "Requests & errors", "Slowest endpoints")
PANELS: Final[dict[str, tuple[str, ...]]] = {
    DAILY_ACTIVE_USERS: ("KPI cards", "Active users"),
    ACTIVE_USERS_TABLE: ("KPI cards", "Active users"),
    TASK_STATS_TABLE: ("KPI cards", "Task outcomes"),
    TASK_DURATIONS_TABLE: ("Task outcomes",),
    API_LATENCY_HOURLY: _API,
    API_LATENCY_DAILY: _API,
    **{name: _API for name in DISTRIBUTIONS if name != TASK_DURATIONS_TABLE},
    INTEGRATION_HEALTH_TABLE: ("Integration health",),
    AUTH_EVENTS_TABLE: ("Authentication",),
    COCOON_ACTIVITY_TABLE: ("Cocoons",),
    ERRORS_TABLE: ("Errors by type", "Top errors"),
    EVENT_TRENDS_HOURLY: ("Event trends",),
    EVENT_TRENDS_DAILY: ("Event trends",),
}
_OTHER: Final = "other charts"


def behind(
    health: SchemaHealth, max_staleness: dt.timedelta
) -> list[tuple[str, dt.datetime | None]]:
    """(panel, since when its newest events are missing), oldest first, one per panel."""
    since: dict[str, dt.datetime | None] = {}
    for agg in health.aggregates:
        if agg.staleness <= max_staleness:
            continue
        when = agg.waiting_since or agg.missing_since or agg.late_since
        for panel in PANELS.get(agg.name, (_OTHER,)):
            known = since.get(panel)
            since[panel] = when if known is None or (when is not None and when < known) else known
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    return sorted(since.items(), key=lambda kv: (kv[1] or far, kv[0]))


def summary(health: SchemaHealth, max_staleness: dt.timedelta) -> str | None:
    """One sentence for the banner; None when the data is current."""
    if health.ok(max_staleness):
        return None
    panels = behind(health, max_staleness)
    if not panels:
        return (
            "The analytics database needs an operator's attention (a migration is pending, "
            "changed or unfinished); the charts may not show everything."
        )
    oldest = min((t for _, t in panels if t is not None), default=None)
    names = ", ".join(p for p, _ in panels)
    when = f" since {oldest:%Y-%m-%d %H:%M} UTC" if oldest is not None else ""
    return f"Behind: {names}. Events{when} are not counted there yet; the other panels are current."
