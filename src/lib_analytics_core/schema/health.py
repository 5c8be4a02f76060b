"""Is the schema's data current? Job health and aggregate staleness, for people and probes.

TimescaleDB's jobs fail quietly: on a server whose scheduler is off, starved of worker
processes or failing every run, the continuous aggregates simply stop at their last
refresh and nothing says so. :func:`schema_health` answers, read-only and for any role
that can read the schema:

* **jobs** (timescale tier): each TimescaleDB job of this schema (refresh policies,
  compression, retention, the active-users job) with its schedule, last run, last
  success, failures in a row, next start and last error text, from
  ``timescaledb_information.jobs`` / ``job_stats`` / ``job_errors`` where the server
  has them;
* **aggregates** (both tiers): per aggregate, the newest materialised bucket and what
  the raw rows would add beyond it (computed with the aggregate's own definition over
  only the rows past its newest bucket, so the check is cheap and knows which events
  each aggregate reads). ``staleness`` is how long ago the oldest such missing bucket
  began; zero when nothing is missing;
* **migrations**: pending ones, and applied ones whose file changed (never acceptable).

:meth:`SchemaHealth.problems` turns that into the reasons a probe should fail
(``analytics-migrate status --check``): a failing job, an aggregate staler than
``max_staleness``, a changed migration. A job that has *never run* is not a problem by
itself (no scheduler: ``maintain()`` does the work, and the aggregates' staleness is the
signal that matters); it is shown so an operator can tell the two modes apart.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import asyncpg

from .._db import Connectable, acquire, translate
from .definitions import AggregateDefinition, aggregate_definitions, distribution_sources
from .facts import ACTIVE_USERS_TABLE, DAILY_ACTIVE_USERS, EVENTS_TABLE, quote_ident
from .migrate import migration_status
from .server import SchemaTier, recorded_tier

__all__ = [
    "DEFAULT_MAX_STALENESS",
    "AggregateHealth",
    "JobHealth",
    "SchemaHealth",
    "schema_health",
]

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
    """``checked_at - missing_since``, or zero when nothing is missing."""


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

    def problems(self, max_staleness: dt.timedelta = DEFAULT_MAX_STALENESS) -> tuple[str, ...]:
        """Why a probe should fail now (empty: healthy)."""
        out = [f"migration {name} changed after it was applied" for name in self.changed_migrations]
        out.extend(
            f"migration {name} is applied but its aggregates are not filled yet "
            f"({', '.join(aggs)}): rerun analytics-migrate"
            for name, aggs in self.incomplete_migrations
        )
        out.extend(
            f"job {job.job_id} ({job.kind} {job.target}) is failing: "
            f"{job.consecutive_failures or 1} failure(s) in a row"
            + (f", last error: {job.last_error}" if job.last_error else "")
            for job in self.jobs
            if job.failing
        )
        out.extend(
            f"aggregate {agg.name} is stale: source rows since "
            f"{agg.missing_since:%Y-%m-%d %H:%M} UTC are not materialised "
            f"({_human(agg.staleness)} > {_human(max_staleness)})"
            for agg in self.aggregates
            if agg.staleness > max_staleness
        )
        return tuple(out)

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
            "tier": self.tier.value,
            "checked_at": iso(self.checked_at),
            "max_staleness_s": max_staleness.total_seconds(),
            "last_maintenance": iso(self.last_maintenance),
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


async def schema_health(pool_or_conn: Connectable) -> SchemaHealth:
    """Read the schema's job health and aggregate staleness (read-only, any reader).

    Raises :class:`~lib_analytics_core.DatabaseError` when the schema is not migrated
    or cannot be read (:class:`~lib_analytics_core.DatabaseUnavailableError` when the
    database is unreachable).
    """
    async with acquire(pool_or_conn, step="schema health: connecting") as conn:
        status = await migration_status(conn)
        with translate("schema health"):
            tier = await recorded_tier(conn)
            now: dt.datetime = await conn.fetchval("SELECT now()")
            jobs = await _jobs(conn) if tier is SchemaTier.TIMESCALE else ()
            definitions = [
                *await aggregate_definitions(conn),
                *await distribution_sources(conn),
            ]
            aggregates = [await _staleness(conn, d, now) for d in definitions]
            rollup = await conn.fetchval(
                "SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL",
                ACTIVE_USERS_TABLE,
                DAILY_ACTIVE_USERS,
            )
            if rollup:  # not before the post-deploy migrations
                aggregates.append(await _active_users_staleness(conn, now))
            last = None
            if await conn.fetchval("SELECT to_regclass('analytics_maintenance_state') IS NOT NULL"):
                last = await conn.fetchval(
                    "SELECT value FROM analytics_maintenance_state WHERE key = 'last_refresh'"
                )
    return SchemaHealth(
        tier=tier,
        checked_at=now,
        jobs=tuple(jobs),
        aggregates=tuple(aggregates),
        pending_migrations=tuple(m.name for m in status.pending),
        changed_migrations=tuple(m.name for m in status.changed),
        last_maintenance=last,
        incomplete_migrations=tuple((m.name, m.unfilled) for m in status.incomplete),
    )


async def _staleness(
    conn: asyncpg.Connection[Any], d: AggregateDefinition, now: dt.datetime
) -> AggregateHealth:
    col, rel = d.quoted_bucket, quote_ident(d.name)
    newest: dt.datetime | None = await conn.fetchval(f"SELECT max({col}) FROM {rel}")
    frontier = newest + d.width if newest is not None else dt.datetime.min.replace(tzinfo=dt.UTC)
    if newest is None:  # bound the scan by the raw data, not by year 1
        oldest = await conn.fetchval(f'SELECT min("timestamp") FROM {quote_ident(EVENTS_TABLE)}')
        frontier = oldest if oldest is not None else now
    row = await conn.fetchrow(
        f"SELECT min({col}) AS lo, max({col}) AS hi FROM ({d.refresh_sql}) AS s",
        frontier,
        now + dt.timedelta(days=1),
    )
    assert row is not None
    return _health(d.name, newest, row["lo"], row["hi"], now)


async def _active_users_staleness(
    conn: asyncpg.Connection[Any], now: dt.datetime
) -> AggregateHealth:
    newest: dt.datetime | None = await conn.fetchval(f"SELECT max(day) FROM {ACTIVE_USERS_TABLE}")
    row = await conn.fetchrow(
        f"SELECT min(day) AS lo, max(day) AS hi FROM {DAILY_ACTIVE_USERS}"
        " WHERE $1::timestamptz IS NULL OR day > $1",
        newest,
    )
    assert row is not None
    return _health(ACTIVE_USERS_TABLE, newest, row["lo"], row["hi"], now)


def _health(
    name: str,
    newest: dt.datetime | None,
    missing_lo: dt.datetime | None,
    missing_hi: dt.datetime | None,
    now: dt.datetime,
) -> AggregateHealth:
    stale = max(now - missing_lo, dt.timedelta(0)) if missing_lo is not None else dt.timedelta(0)
    return AggregateHealth(
        name=name,
        newest_bucket=newest,
        newest_source_bucket=missing_hi if missing_hi is not None else newest,
        missing_since=missing_lo,
        staleness=stale,
    )


async def _jobs(conn: asyncpg.Connection[Any]) -> list[JobHealth]:
    rows = await conn.fetch(
        """
        SELECT j.job_id, j.proc_name, j.schedule_interval, j.scheduled,
               coalesce(ca.view_name::text, j.hypertable_name::text, j.proc_name::text) AS target,
               s.last_run_started_at, s.last_successful_finish, s.last_run_status,
               coalesce(s.total_runs, 0) AS total_runs,
               coalesce(s.total_failures, 0) AS total_failures,
               coalesce(s.next_start, j.next_start) AS next_start
        FROM timescaledb_information.jobs j
        LEFT JOIN timescaledb_information.job_stats s ON s.job_id = j.job_id
        -- Newer TimescaleDB names the cagg itself as a refresh policy's hypertable,
        -- older versions its materialisation hypertable: match either.
        LEFT JOIN timescaledb_information.continuous_aggregates ca
               ON (ca.view_schema, ca.view_name) = (j.hypertable_schema, j.hypertable_name)
               OR (ca.materialization_hypertable_schema, ca.materialization_hypertable_name)
                  = (j.hypertable_schema, j.hypertable_name)
        WHERE j.job_id >= 1000
          AND ((j.hypertable_schema = current_schema() AND j.hypertable_name = $1)
               OR ca.view_schema = current_schema()
               OR (j.proc_schema = current_schema()
                   AND j.proc_name IN ('analytics_active_users_job',
                                       'analytics_distributions_job')))
        ORDER BY j.job_id
        """,
        EVENTS_TABLE,
    )
    consecutive = await _optional_map(
        conn,
        "_timescaledb_internal.bgw_job_stat",
        "SELECT job_id, consecutive_failures AS v FROM _timescaledb_internal.bgw_job_stat",
    )
    errors = await _optional_map(
        conn,
        "timescaledb_information.job_errors",
        "SELECT DISTINCT ON (job_id) job_id,"
        " coalesce(err_message, '') || coalesce(' (SQLSTATE ' || sqlerrcode || ')', '') AS v"
        " FROM timescaledb_information.job_errors ORDER BY job_id, finish_time DESC NULLS LAST",
    )
    return [
        JobHealth(
            job_id=r["job_id"],
            kind=_KINDS.get(r["proc_name"], r["proc_name"]),
            target=r["target"],
            schedule_interval=r["schedule_interval"],
            scheduled=bool(r["scheduled"]),
            last_run_started_at=r["last_run_started_at"],
            last_successful_finish=r["last_successful_finish"],
            last_run_status=r["last_run_status"],
            total_runs=int(r["total_runs"]),
            total_failures=int(r["total_failures"]),
            consecutive_failures=int(consecutive.get(r["job_id"]) or 0),
            next_start=r["next_start"],
            last_error=errors.get(r["job_id"]),
        )
        for r in rows
    ]


async def _optional_map(conn: asyncpg.Connection[Any], relation: str, query: str) -> dict[int, Any]:
    """``job_id -> v`` from a relation that older servers (or this role) may not have."""
    readable = await conn.fetchval(
        "SELECT to_regclass($1) IS NOT NULL AND has_table_privilege($1, 'SELECT')", relation
    )
    if not readable:
        return {}
    return {r["job_id"]: r["v"] for r in await conn.fetch(query)}
