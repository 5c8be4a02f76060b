"""One evaluation of every rule, as of a given time; and the loop that repeats it.

:func:`evaluate_once` is the one entry point: ``analytics-alerts evaluate`` calls it
once, ``analytics-alerts run`` every minute, and the elected maintainer can await it
from its own loop (it takes a pool, a connection or a URL, and never sleeps). It:

1. in one transaction, under the alerts advisory lock (``facts.ALERTS_LOCK_KEY``,
   transaction-level so it holds through PgBouncer's transaction pooling: two
   evaluators, a CronJob overlapping the previous run, never record one change twice):
   brings each SLO's minutes up to ``at`` (:mod:`.rollup`), sums the workbook's windows
   and decides the severity (:mod:`.burn`), measures each threshold rule
   (:mod:`.threshold`), and records what changed with its outbox rows (:mod:`.store`);
2. after the commit, delivers what is due (:mod:`.deliver`, each row locked while it is
   sent), new and old.

Everything is as of ``at``: the replay tests evaluate a written history minute by
minute with no clock, and a backfilled history can be re-judged.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import _db
from ..schema.facts import ALERTS_LOCK_KEY
from . import rollup, threshold
from .burn import WINDOWS, burn_rate, decide, window_label
from .rules import AlertConfig, Severity
from .store import Change, Observation, record

if TYPE_CHECKING:
    import httpx

    from .deliver import DeliveryReport

__all__ = ["DEFAULT_INTERVAL_S", "Alert", "Evaluation", "evaluate_once", "run"]

logger = logging.getLogger(__name__)

#: Seconds between evaluations of ``run`` (the shortest window is 5 minutes).
DEFAULT_INTERVAL_S = 60.0


@dataclass(frozen=True, slots=True)
class Alert:
    """A firing rule, as ``analytics-alerts evaluate`` prints it."""

    name: str
    kind: str
    severity: Severity
    since: _dt.datetime
    value: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "severity": self.severity,
            "since": self.since.isoformat(),
            **self.value,
        }


@dataclass(frozen=True, slots=True)
class Evaluation:
    at: _dt.datetime
    observations: list[Observation]
    changes: list[Change]
    firing: list[Alert]
    delivery: DeliveryReport | None = None


async def _observe_slos(conn: Any, config: AlertConfig, at: _dt.datetime) -> list[Observation]:
    out: list[Observation] = []
    await rollup.refresh_all(conn, config.slos, at)
    all_counts = await rollup.window_counts_all(conn, config.slos, at, WINDOWS)
    for slo in config.slos:
        counts = all_counts[slo.key()]
        severity, pair = decide(counts, slo.objective)
        value: dict[str, Any] = {
            "objective": slo.objective,
            "burn_rates": {window_label(w): burn_rate(c, slo.objective) for w, c in counts.items()},
            "requests": {window_label(w): c.total for w, c in counts.items()},
            "bad": {window_label(w): c.bad for w, c in counts.items()},
            "windows": None
            if pair is None
            else {
                "long": window_label(pair.long),
                "short": window_label(pair.short),
                "rate": pair.rate,
            },
        }
        out.append(Observation(slo.name, "slo", severity, value, slo.notify, slo.key()))
    return out


async def _observe_thresholds(
    conn: Any, config: AlertConfig, at: _dt.datetime
) -> list[Observation]:
    out: list[Observation] = []
    for rule in config.thresholds:
        v = await threshold.measure(conn, rule, at)
        fired = threshold.breached(rule, v)
        value = {
            "measure": rule.measure if rule.field is None else f"{rule.measure}:{rule.field}",
            "event_type": rule.event_type,
            "over": _label(rule.over),
            "value": v,
            "above": rule.above,
            "below": rule.below,
        }
        out.append(
            Observation(
                rule.name, "threshold", rule.severity if fired else None, value, rule.notify
            )
        )
    return out


def _label(d: _dt.timedelta) -> str:
    return window_label(d)


async def evaluate_once(
    db: Any,
    config: AlertConfig,
    *,
    at: _dt.datetime | None = None,
    deliver: bool = True,
    client: httpx.AsyncClient | None = None,
) -> Evaluation:
    """Evaluate every rule of ``config`` as of ``at`` (default now), record and deliver
    the changes (module docstring). ``db``: a pool, a connection or a URL."""
    when = _dt.datetime.now(_dt.UTC) if at is None else at.astimezone(_dt.UTC)
    async with _db.acquire(db, step="alerts: connecting") as conn:
        with _db.translate("alerts: evaluating"):
            async with conn.transaction():
                # A transaction-level lock (PgBouncer's transaction pooling keeps it): two
                # evaluators never record one change twice.
                await conn.execute("SELECT pg_advisory_xact_lock($1)", ALERTS_LOCK_KEY)
                observations = [
                    *await _observe_slos(conn, config, when),
                    *await _observe_thresholds(conn, config, when),
                ]
                changes, since = await record(conn, observations, when, config)
        firing = [
            Alert(o.rule, o.kind, o.severity, since[o.rule], o.value)
            for o in observations
            if o.severity is not None
        ]
        report = None
        if deliver:
            from .deliver import deliver_pending  # noqa: PLC0415 - httpx only when delivering

            with _db.translate("alerts: delivering"):
                report = await deliver_pending(conn, config, when, client=client)
    for c in changes:
        logger.info("alert %s: %s (%s)", c.rule, c.state, c.severity or f"was {c.previous}")
    return Evaluation(when, observations, changes, firing, report)


async def run(
    db: Any,
    config: AlertConfig,
    *,
    interval_s: float = DEFAULT_INTERVAL_S,
    stop: asyncio.Event | None = None,
) -> None:
    """Evaluate every ``interval_s`` until ``stop`` is set. A failed evaluation (the
    database away) is logged and retried at the next tick: alerting must outlive the
    outage it may be about to report."""
    stop = stop or asyncio.Event()
    while not stop.is_set():
        try:
            await evaluate_once(db, config)
        except Exception:
            logger.exception("alert evaluation failed; retrying in %.0f s", interval_s)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_s)
