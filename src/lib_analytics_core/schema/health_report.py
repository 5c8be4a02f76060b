"""What ``schema_health()`` reports: jobs, aggregates, migrations, the maintainer, and
the rule that turns them into a probe's answer (:meth:`SchemaHealth.problems`).

The types and the rule live here, apart from the queries that fill them
(``health.py``), so the API's product words (``api/_health_words.py``), the Prometheus
export and ``analytics-migrate status`` read one definition. ``health.py`` re-exports
everything public.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from .server import SchemaTier

__all__ = ["DEFAULT_MAX_STALENESS", "AggregateHealth", "JobHealth", "SchemaHealth"]

DEFAULT_MAX_STALENESS = dt.timedelta(hours=2)
"""Refresh policies run hourly; two hours is one missed run plus its run time."""

_KINDS = {
    "policy_refresh_continuous_aggregate": "refresh",
    "policy_compression": "compression",
    "policy_retention": "retention",
    "analytics_active_users_job": "active_users",
    "analytics_distributions_job": "distributions",
}


@dataclass(frozen=True, slots=True)
class JobHealth:
    """One TimescaleDB job of the schema and how its runs went."""

    job_id: int
    kind: str
    """``refresh``, ``compression``, ``retention``, ``active_users`` (or the proc name)."""
    target: str
    """The aggregate or table it works on."""
    schedule_interval: dt.timedelta | None
    scheduled: bool
    last_run_started_at: dt.datetime | None
    last_successful_finish: dt.datetime | None
    last_run_status: str | None
    total_runs: int
    total_failures: int
    consecutive_failures: int
    next_start: dt.datetime | None
    last_error: str | None
    """Text (and SQLSTATE) of the newest recorded failure, if the server keeps them."""

    @property
    def never_run(self) -> bool:
        return self.total_runs == 0

    @property
    def failing(self) -> bool:
        """Its latest run failed (retries may be pending, but data is not moving)."""
        return self.consecutive_failures > 0 or self.last_run_status == "Failed"


@dataclass(frozen=True, slots=True)
class AggregateHealth:
    """How far an aggregate trails the rows it is computed from."""

    name: str
    newest_bucket: dt.datetime | None
    """Newest materialised bucket (None: nothing materialised)."""
    newest_source_bucket: dt.datetime | None
    """Newest bucket the source rows produce (None: no source rows at all)."""
    missing_since: dt.datetime | None
    """Start of the oldest bucket the source has and the aggregate lacks."""
    staleness: dt.timedelta
    """How long the oldest source row the aggregate lacks has waited: since it arrived
    (partitioned tier) or happened (``health_age``), for missing buckets and late rows
    alike (see :func:`schema_health`); zero when current."""
    late_since: dt.datetime | None = None
    """Start of the oldest already-materialised bucket that raw rows written since its
    refresh make wrong (late rows), when no scheduled refresh will cover it."""
    waiting_since: dt.datetime | None = None
    """When the oldest source row the aggregate lacks arrived or happened (``checked_at
    - staleness``); None when current."""


@dataclass(frozen=True, slots=True)
class SchemaHealth:
    """A snapshot of the schema's liveness (see the module docstring)."""

    tier: SchemaTier
    checked_at: dt.datetime
    jobs: tuple[JobHealth, ...]
    aggregates: tuple[AggregateHealth, ...]
    pending_migrations: tuple[str, ...]
    changed_migrations: tuple[str, ...]
    last_maintenance: dt.datetime | None
    """Partitioned tier: when ``maintain()``/``refresh_aggregates()`` last refreshed."""
    incomplete_migrations: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """(migration, aggregates not filled yet): applied, but the fill after its commit
    failed; the next ``analytics-migrate`` run finishes it."""
    maintainer: dict[str, Any] | None = None
    """The elected maintainer's lease row (``schema/maintainer.py``: holder, expiry, last
    refresh, last whole pass, last error); None when none was ever elected."""

    def problems(self, max_staleness: dt.timedelta = DEFAULT_MAX_STALENESS) -> tuple[str, ...]:
        """Why a probe should fail now (empty: healthy): facts about the data only."""
        out = [f"migration {name} changed after it was applied" for name in self.changed_migrations]
        if self.pending_migrations:
            out.append(
                f"{len(self.pending_migrations)} migration(s) pending "
                f"({', '.join(self.pending_migrations)}): run analytics-migrate"
            )
        out.extend(
            f"migration {name} is applied but its aggregates are not filled yet "
            f"({', '.join(aggs)}): rerun analytics-migrate"
            for name, aggs in self.incomplete_migrations
        )
        for agg in self.aggregates:
            if agg.staleness <= max_staleness:
                continue
            if agg.missing_since is not None:
                text = (
                    f"aggregate {agg.name} is stale: its oldest uncounted source row is from "
                    f"{agg.waiting_since or agg.missing_since:%Y-%m-%d %H:%M} UTC"
                )
            else:
                text = (
                    f"aggregate {agg.name} is wrong: late rows in buckets from "
                    f"{agg.late_since:%Y-%m-%d %H:%M} UTC are not refreshed (run "
                    "analytics-migrate maintain)"
                )
            text += f" ({_human(agg.staleness)} > {_human(max_staleness)})"
            jobs = [j for j in self.jobs if j.failing and j.target == agg.name]
            text += "".join(
                f"; its job {j.job_id} is failing" + (f": {j.last_error}" if j.last_error else "")
                for j in jobs
            )
            out.append(text)
        return tuple(out)

    def warnings(self, max_staleness: dt.timedelta = DEFAULT_MAX_STALENESS) -> tuple[str, ...]:
        """What an operator should look at although the data is current: jobs whose runs
        report failures (the server's error named). A scheduler that fails after doing
        its work, or a failing job whose aggregate ``maintain()`` keeps current, is not an
        outage; a stale aggregate is (and is in :meth:`problems`, naming its job)."""
        stale = {a.name for a in self.aggregates if a.staleness > max_staleness}
        return tuple(
            f"job {job.job_id} ({job.kind} {job.target}) reports failures "
            f"({job.consecutive_failures or 1} in a row"
            + (f", server error: {job.last_error}" if job.last_error else "")
            + ") but the data it maintains is current"
            for job in self.jobs
            if job.failing and job.target not in stale
        )

    def ok(self, max_staleness: dt.timedelta = DEFAULT_MAX_STALENESS) -> bool:
        return not self.problems(max_staleness)

    def as_dict(self, max_staleness: dt.timedelta = DEFAULT_MAX_STALENESS) -> dict[str, Any]:
        """JSON-ready form (ISO timestamps, seconds) for a read-only health endpoint:
        ``ok`` and ``problems`` drive a "data is stale" banner, the rest explains it."""

        def iso(t: dt.datetime | None) -> str | None:
            return t.isoformat() if t is not None else None

        return {
            "ok": self.ok(max_staleness),
            "problems": list(self.problems(max_staleness)),
            "warnings": list(self.warnings(max_staleness)),
            "tier": self.tier.value,
            "checked_at": iso(self.checked_at),
            "max_staleness_s": max_staleness.total_seconds(),
            "last_maintenance": iso(self.last_maintenance),
            "maintainer": None
            if self.maintainer is None
            else {
                k: iso(v) if isinstance(v, dt.datetime) else v for k, v in self.maintainer.items()
            },
            "pending_migrations": list(self.pending_migrations),
            "changed_migrations": list(self.changed_migrations),
            "incomplete_migrations": [
                {"name": n, "unfilled": list(a)} for n, a in self.incomplete_migrations
            ],
            "aggregates": [
                {
                    "name": a.name,
                    "newest_bucket": iso(a.newest_bucket),
                    "newest_source_bucket": iso(a.newest_source_bucket),
                    "missing_since": iso(a.missing_since),
                    "staleness_s": a.staleness.total_seconds(),
                    "late_since": iso(a.late_since),
                    "waiting_since": iso(a.waiting_since),
                    "stale": a.staleness > max_staleness,
                }
                for a in self.aggregates
            ],
            "jobs": [
                {
                    "job_id": j.job_id,
                    "kind": j.kind,
                    "target": j.target,
                    "schedule_interval_s": (
                        j.schedule_interval.total_seconds() if j.schedule_interval else None
                    ),
                    "scheduled": j.scheduled,
                    "last_run_started_at": iso(j.last_run_started_at),
                    "last_successful_finish": iso(j.last_successful_finish),
                    "last_run_status": j.last_run_status,
                    "total_runs": j.total_runs,
                    "total_failures": j.total_failures,
                    "consecutive_failures": j.consecutive_failures,
                    "next_start": iso(j.next_start),
                    "last_error": j.last_error,
                    "failing": j.failing,
                    "never_run": j.never_run,
                }
                for j in self.jobs
            ],
        }


def _human(d: dt.timedelta) -> str:
    s = int(d.total_seconds())
    if s >= 86400:
        return f"{s / 86400:.1f}d"
    if s >= 3600:
        return f"{s / 3600:.1f}h"
    return f"{s // 60}m"
