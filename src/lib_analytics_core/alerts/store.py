"""Alert state, history and the delivery outbox in the database (migration 0017).

Why the database and not the evaluator's memory: the evaluator is a CronJob, a loop
beside the API or a task of the elected maintainer; any of them restarts. What was
firing, since when, and which notifications are still owed must survive that, and must
be the same for the next evaluator wherever it runs. So a change of state, its history
row and one outbox row per webhook are written in **one transaction**
(:func:`record`): either the change happened and its notifications are owed, or
neither. Delivery (:mod:`.deliver`) works off the outbox after the commit.

The idempotency key of a notification is derived from what it says (rule, state,
severity, since, webhook), not drawn at random: the same change can only ever be owed
once (the key is unique), and a receiver deduplicating on the header sees every
retry, and a retry after a crash, as the same message.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ..schema.facts import ALERT_DELIVERIES_TABLE, ALERT_HISTORY_TABLE, ALERT_STATES_TABLE
from .rules import AlertConfig, Severity

__all__ = ["Change", "Observation", "idempotency_key", "notification", "record"]


@dataclass(frozen=True, slots=True)
class Observation:
    """What one evaluation found for one rule: ``severity`` None means not firing."""

    rule: str
    kind: Literal["slo", "threshold"]
    severity: Severity | None
    value: dict[str, Any]
    notify: tuple[str, ...] = ()
    rule_key: str | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """A change of one rule's state: firing (new or other severity) or resolved."""

    rule: str
    kind: str
    severity: Severity | None
    previous: Severity | None
    since: _dt.datetime
    at: _dt.datetime
    value: dict[str, Any] = field(default_factory=dict)

    @property
    def state(self) -> str:
        return "firing" if self.severity is not None else "resolved"


def idempotency_key(change: Change, webhook: str) -> str:
    what = f"{change.rule}|{change.state}|{change.severity}|{change.since.isoformat()}|{webhook}"
    return hashlib.sha256(what.encode()).hexdigest()[:40]


def _fmt(x: object) -> str:
    return f"{x:.3g}" if isinstance(x, float) else str(x)


def _text(change: Change) -> str:
    """The Slack-compatible one-liner (``text``) of a notification."""
    v = change.value
    if change.kind == "slo":
        burns = v.get("burn_rates", {})
        detail = ", ".join(f"{w} {_fmt(b)}x" for w, b in burns.items())
        detail = f"burn rates {detail}"
    else:
        bound = "above" if v.get("above") is not None else "below"
        detail = f"{v.get('measure')} = {_fmt(v.get('value'))} ({bound} {_fmt(v.get(bound))})"
    at = change.at.isoformat()
    if change.severity is None:
        return (
            f":white_check_mark: RESOLVED {change.rule} (was {change.previous}) at {at}: {detail}"
        )
    icon = ":rotating_light:" if change.severity == "page" else ":warning:"
    how = ""
    if change.previous is not None:
        how = (
            " (downgraded from page)" if change.severity == "ticket" else " (upgraded from ticket)"
        )
    return f"{icon} {change.severity.upper()} {change.rule}{how} since {at}: {detail}"


def notification(change: Change, config: AlertConfig, key: str) -> dict[str, Any]:
    """The JSON body of a webhook POST (``docs/alerts.md``)."""
    link = None
    if config.dashboard_url:
        link = f"{config.dashboard_url.rstrip('/')}/#alerts/{change.rule}"
    return {
        "rule": change.rule,
        "kind": change.kind,
        "state": change.state,
        "severity": change.severity,
        "previous_severity": change.previous,
        "since": change.since.isoformat(),
        "at": change.at.isoformat(),
        **change.value,
        "link": link,
        "idempotency_key": key,
        "text": _text(change),
    }


async def record(
    conn: Any, observations: Sequence[Observation], at: _dt.datetime, config: AlertConfig
) -> tuple[list[Change], dict[str, _dt.datetime]]:
    """Compare ``observations`` with the stored states and record what changed (state,
    history, outbox), in the caller's transaction. Unchanged rules get their value and
    evaluation time updated only. Evaluating twice at one ``at`` changes nothing.
    Returns the changes and, per rule, since when it is in its (new) state."""
    rows = await conn.fetch(
        f"SELECT rule, state, severity, since FROM {ALERT_STATES_TABLE}"
        " WHERE rule = ANY($1::text[]) FOR UPDATE",
        [o.rule for o in observations],
    )
    stored = {r["rule"]: r for r in rows}
    changes: list[Change] = []
    since_of: list[_dt.datetime] = []
    for o in observations:
        old = stored.get(o.rule)
        before: Severity | None = None if old is None else old["severity"]
        if old is not None and before == o.severity:
            since_of.append(old["since"])
            continue
        if old is None and o.severity is None:
            since_of.append(at)
            continue
        since_of.append(at)
        changes.append(Change(o.rule, o.kind, o.severity, before, at, at, o.value))
    await conn.execute(
        f"INSERT INTO {ALERT_STATES_TABLE} AS s"
        " (rule, kind, state, severity, since, evaluated_at, rule_key, value)"
        " SELECT r, k, CASE WHEN sev IS NULL THEN 'ok' ELSE 'firing' END, sev, si, $6, rk,"
        " v::jsonb FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[],"
        " $5::text[], $7::text[]) AS u(r, k, sev, si, rk, v)"
        " ON CONFLICT (rule) DO UPDATE SET kind = EXCLUDED.kind, state = EXCLUDED.state,"
        " severity = EXCLUDED.severity, since = EXCLUDED.since,"
        " evaluated_at = EXCLUDED.evaluated_at, rule_key = EXCLUDED.rule_key,"
        " value = EXCLUDED.value",
        [o.rule for o in observations],
        [o.kind for o in observations],
        [o.severity for o in observations],
        since_of,
        [o.rule_key for o in observations],
        at,
        [json.dumps(o.value) for o in observations],
    )
    notify = {o.rule: o.notify for o in observations}
    for c in changes:
        history_id = await conn.fetchval(
            f"INSERT INTO {ALERT_HISTORY_TABLE}"
            " (rule, at, state, severity, previous, since, value)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb) RETURNING id",
            c.rule,
            c.at,
            "firing" if c.severity else "ok",
            c.severity,
            c.previous,
            c.since,
            json.dumps(c.value),
        )
        for hook in notify[c.rule]:
            key = idempotency_key(c, hook)
            await conn.execute(
                f"INSERT INTO {ALERT_DELIVERIES_TABLE}"
                " (history_id, webhook, idempotency_key, body, next_attempt_at)"
                " VALUES ($1, $2, $3, $4::jsonb, $5) ON CONFLICT (idempotency_key) DO NOTHING",
                history_id,
                hook,
                key,
                json.dumps(notification(c, config, key)),
                at,
            )
    return changes, {o.rule: since for o, since in zip(observations, since_of, strict=True)}
