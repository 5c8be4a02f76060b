"""The read side of alerting: current states, history, and each SLO's error budget.

Read by ``GET /v1/alerts`` and ``GET /v1/slos`` with the API's read-only role, from the
tables the evaluator writes (migration 0017), never from the alerting file: the API may
run where the file is not, and it answers what the evaluator last decided.

Attainment and budget are over the SLO's window ending where the evaluator's minutes
are complete (``as_of``, its last evaluation), from those minutes:
``attainment = 1 - bad / requests``; ``budget_remaining = 1 - (bad / requests) /
(1 - objective)`` (1: untouched, 0: spent, negative: overspent); ``None`` without
requests. Statements go through ``read._exec`` (time limit, error classification).
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass
from typing import Any, Final

from ..read import _exec
from ..schema.facts import (
    ALERT_DELIVERIES_TABLE,
    ALERT_HISTORY_TABLE,
    ALERT_MINUTES_TABLE,
    ALERT_ROLLUPS_TABLE,
    ALERT_STATES_TABLE,
)

__all__ = [
    "DEFAULT_HISTORY",
    "MAX_HISTORY",
    "AlertChange",
    "AlertState",
    "AlertsStatus",
    "SloStatus",
    "alerts_status",
    "slo_status",
]

DEFAULT_HISTORY: Final = 100
MAX_HISTORY: Final = 1_000


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertState:
    """A rule as of its last evaluation: ``state`` ``ok`` or ``firing`` (with severity)
    since ``since``; ``value``: burn rates per window, or the threshold's measure."""

    rule: str
    kind: str
    state: str
    severity: str | None
    since: _dt.datetime
    evaluated_at: _dt.datetime
    value: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertChange:
    """One change: ``state`` ``firing`` (``severity``, upgraded or downgraded from
    ``previous``) or ``ok`` (resolved); deliveries: per webhook, delivered or pending."""

    id: int
    rule: str
    at: _dt.datetime
    state: str
    severity: str | None
    previous: str | None
    value: dict[str, Any]
    deliveries: list[dict[str, Any]]


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertsStatus:
    states: list[AlertState]
    history: list[AlertChange]


@dataclass(frozen=True, slots=True, kw_only=True)
class SloStatus:
    """An SLO's attainment and remaining error budget over its window (module
    docstring), with its alert state."""

    name: str
    objective: float
    window: str
    as_of: _dt.datetime
    requests: int
    bad: int
    attainment: float | None
    budget_remaining: float | None
    state: str
    severity: str | None
    burn_rates: dict[str, float]


def _json(value: object) -> dict[str, Any]:
    out = json.loads(value) if isinstance(value, str) else value
    return out if isinstance(out, dict) else {}


async def alerts_status(
    db: _exec.Db, *, rule: str | None = None, limit: int = DEFAULT_HISTORY
) -> AlertsStatus:
    """Every rule's state, and the newest ``limit`` changes (of ``rule``), newest first."""
    states = await _exec.fetch(
        db,
        "alerts.states",
        f"SELECT rule, kind, state, severity, since, evaluated_at, value::text AS value"
        f" FROM {ALERT_STATES_TABLE} WHERE $1::text IS NULL OR rule = $1 ORDER BY rule",
        rule,
    )
    history = await _exec.fetch(
        db,
        "alerts.history",
        f"SELECT h.id, h.rule, h.at, h.state, h.severity, h.previous, h.value::text AS value,"
        " coalesce((SELECT json_agg(json_build_object('webhook', d.webhook,"
        " 'delivered_at', d.delivered_at, 'failed_at', d.failed_at, 'attempts', d.attempts,"
        f" 'last_error', d.last_error) ORDER BY d.id) FROM {ALERT_DELIVERIES_TABLE} d"
        " WHERE d.history_id = h.id), '[]')::text AS deliveries"
        f" FROM {ALERT_HISTORY_TABLE} h WHERE $1::text IS NULL OR h.rule = $1"
        " ORDER BY h.at DESC, h.id DESC LIMIT $2",
        rule,
        limit,
    )
    return AlertsStatus(
        states=[
            AlertState(
                rule=r["rule"],
                kind=r["kind"],
                state=r["state"],
                severity=r["severity"],
                since=r["since"],
                evaluated_at=r["evaluated_at"],
                value=_json(r["value"]),
            )
            for r in states
        ],
        history=[
            AlertChange(
                id=r["id"],
                rule=r["rule"],
                at=r["at"],
                state=r["state"],
                severity=r["severity"],
                previous=r["previous"],
                value=_json(r["value"]),
                deliveries=json.loads(r["deliveries"]),
            )
            for r in history
        ],
    )


async def slo_status(db: _exec.Db) -> list[SloStatus]:
    """Every SLO the evaluator knows (its current definition), by name."""
    rows = await _exec.fetch(
        db,
        "alerts.slos",
        f"SELECT s.rule, s.state, s.severity, s.value::text AS value, r.objective,"
        " r.window_s, r.complete_to, w.total, w.bad"
        f" FROM {ALERT_STATES_TABLE} s JOIN {ALERT_ROLLUPS_TABLE} r ON r.rule_key = s.rule_key"
        # The window's requests from the running sums (alerts/rollup.py): those of its
        # last minute minus those before its first one.
        " CROSS JOIN LATERAL (SELECT coalesce(max(l.cum_total) - min(f.cum_total - f.total), 0)"
        " AS total, coalesce(max(l.cum_bad) - min(f.cum_bad - f.bad), 0) AS bad"
        f" FROM (SELECT cum_total, cum_bad FROM {ALERT_MINUTES_TABLE}"
        " WHERE rule_key = r.rule_key AND minute < r.complete_to"
        " ORDER BY minute DESC LIMIT 1) AS l,"
        f" (SELECT cum_total, total, cum_bad, bad FROM {ALERT_MINUTES_TABLE}"
        " WHERE rule_key = r.rule_key"
        " AND minute >= r.complete_to - make_interval(secs => r.window_s)"
        " AND minute < r.complete_to ORDER BY minute LIMIT 1) AS f) AS w"
        " WHERE s.kind = 'slo' ORDER BY s.rule",
    )
    out = []
    for r in rows:
        total, bad = int(r["total"]), int(r["bad"])
        objective = float(r["objective"])
        ratio = bad / total if total else None
        days = int(r["window_s"]) // 86400
        out.append(
            SloStatus(
                name=r["rule"],
                objective=objective,
                window=f"{days}d" if days * 86400 == r["window_s"] else f"{r['window_s']}s",
                as_of=r["complete_to"],
                requests=total,
                bad=bad,
                attainment=None if ratio is None else 1 - ratio,
                budget_remaining=None if ratio is None else 1 - ratio / (1 - objective),
                state=r["state"],
                severity=r["severity"],
                burn_rates=_json(r["value"]).get("burn_rates", {}),
            )
        )
    return out
