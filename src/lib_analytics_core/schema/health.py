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
  each aggregate reads). ``staleness`` is the age of the oldest source row the
  aggregate does not count yet (how long it has waited: ``health_age``), not the age of
  its bucket; zero when nothing is missing;
* **migrations**: pending ones, and applied ones whose file changed (never acceptable).

Staleness counts both buckets the aggregate lacks and *late rows*: rows written into
buckets already materialised (a spool replayed after an outage) that no scheduled
refresh will cover (partitioned tier: the insert trigger's invalidation log, waiting for
``maintain()``; timescale tier: TimescaleDB's invalidation logs, older than the
policies' 3-day window).

:meth:`SchemaHealth.problems` turns that into the reasons a probe should fail
(``analytics-migrate status --check``, ``/v1/health``'s ``ok``, the dashboard banner):
facts about the data only: an aggregate staler than ``max_staleness`` (naming its
failing job and the server's error, if any), a changed migration, a migration whose
aggregates are not filled. Job bookkeeping is not such a fact: a scheduler can report
every run failed after doing the work, or be off while ``maintain()`` does it. A job
that reports failures while the data it maintains is current is a
:meth:`SchemaHealth.warnings` line naming the server's error; a job that has *never
run* is shown so an operator can tell the two modes apart.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import asyncpg

from .._db import Connectable, acquire, translate
from .definitions import AggregateDefinition, aggregate_definitions, distribution_sources
from .facts import (
    ACTIVE_USERS_TABLE,
    DAILY_ACTIVE_USERS,
    EVENTS_TABLE,
    MAINTAINER_LEASE_NAME,
    MAINTAINER_LEASE_TABLE,
    REFRESH_WINDOW,
    TIMESCALE_PENDING_SQL,
    floor_day,
    quote_ident,
)
from .health_age import arrived_since, oldest_source_row
from .health_report import (
    _KINDS,
    DEFAULT_MAX_STALENESS,
    AggregateHealth,
    JobHealth,
    SchemaHealth,
)
from .migrate import migration_status
from .server import SchemaTier, recorded_tier

__all__ = [
    "DEFAULT_MAX_STALENESS",
    "AggregateHealth",
    "JobHealth",
    "SchemaHealth",
    "schema_health",
]


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
            if tier is SchemaTier.PARTITIONED:
                aggregates = [await _arrival(conn, a, now) for a in aggregates]
            rollup = await conn.fetchval(
                "SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL",
                ACTIVE_USERS_TABLE,
                DAILY_ACTIVE_USERS,
            )
            if rollup:  # not before the post-deploy migrations
                dau = next((d for d in definitions if d.name == DAILY_ACTIVE_USERS), None)
                aggregates.append(await _active_users_staleness(conn, now, dau))
            last = None
            if await conn.fetchval("SELECT to_regclass('analytics_maintenance_state') IS NOT NULL"):
                last = await conn.fetchval(
                    "SELECT value FROM analytics_maintenance_state WHERE key = 'last_refresh'"
                )
            lease = None
            if await _readable(conn, MAINTAINER_LEASE_TABLE):
                row = await conn.fetchrow(
                    "SELECT holder, expires_at, expires_at > now() AS live, last_refresh_at,"
                    f" last_maintain_at, last_error, last_error_at FROM {MAINTAINER_LEASE_TABLE}"
                    " WHERE name = $1",
                    MAINTAINER_LEASE_NAME,
                )
                lease = dict(row) if row is not None else None
            if tier is SchemaTier.TIMESCALE:
                aggregates = await _late_timescale(conn, aggregates, now)
            else:
                aggregates = await _late_partitioned(conn, aggregates, now, last)
    return SchemaHealth(
        tier=tier,
        checked_at=now,
        jobs=tuple(jobs),
        aggregates=tuple(aggregates),
        pending_migrations=tuple(m.name for m in status.pending),
        changed_migrations=tuple(m.name for m in status.changed),
        last_maintenance=last,
        incomplete_migrations=tuple((m.name, m.unfilled) for m in status.incomplete),
        maintainer=lease,
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
    oldest = await oldest_source_row(conn, d, row["lo"]) if row["lo"] is not None else None
    return _health(d.name, newest, row["lo"], row["hi"], now, oldest_row=oldest)


async def _arrival(
    conn: asyncpg.Connection[Any], a: AggregateHealth, now: dt.datetime
) -> AggregateHealth:
    """Partitioned tier: a missing bucket's rows arrived no earlier than the oldest
    invalidation-log entry of their day (``health_age``), which may be much later than
    they happened (a replayed spool, a client's late batch)."""
    if a.missing_since is None or a.waiting_since is None:
        return a
    arrived = await arrived_since(conn, floor_day(a.missing_since))
    if arrived is None or arrived <= a.waiting_since:
        return a
    return dataclasses.replace(
        a, waiting_since=arrived, staleness=max(now - arrived, dt.timedelta(0))
    )


async def _active_users_staleness(
    conn: asyncpg.Connection[Any], now: dt.datetime, dau: AggregateDefinition | None
) -> AggregateHealth:
    newest: dt.datetime | None = await conn.fetchval(f"SELECT max(day) FROM {ACTIVE_USERS_TABLE}")
    row = await conn.fetchrow(
        f"SELECT min(day) AS lo, max(day) AS hi FROM {DAILY_ACTIVE_USERS}"
        " WHERE $1::timestamptz IS NULL OR day > $1",
        newest,
    )
    assert row is not None
    oldest = None
    if row["lo"] is not None and dau is not None:
        oldest = await oldest_source_row(conn, dau, row["lo"])
    return _health(ACTIVE_USERS_TABLE, newest, row["lo"], row["hi"], now, oldest_row=oldest)


def _health(
    name: str,
    newest: dt.datetime | None,
    missing_lo: dt.datetime | None,
    missing_hi: dt.datetime | None,
    now: dt.datetime,
    *,
    oldest_row: dt.datetime | None = None,
) -> AggregateHealth:
    waiting = oldest_row if oldest_row is not None else missing_lo
    stale = max(now - waiting, dt.timedelta(0)) if waiting is not None else dt.timedelta(0)
    return AggregateHealth(
        name=name,
        newest_bucket=newest,
        newest_source_bucket=missing_hi if missing_hi is not None else newest,
        missing_since=missing_lo,
        staleness=stale,
        waiting_since=waiting,
    )


def _with_late(
    a: AggregateHealth, since: dt.datetime | None, waited: dt.timedelta, now: dt.datetime
) -> AggregateHealth:
    if since is None:
        return a
    if waited <= a.staleness:
        return dataclasses.replace(a, late_since=since)
    return dataclasses.replace(a, late_since=since, staleness=waited, waiting_since=now - waited)


async def _late_partitioned(
    conn: asyncpg.Connection[Any],
    aggregates: list[AggregateHealth],
    now: dt.datetime,
    last_refresh: dt.datetime | None,
) -> list[AggregateHealth]:
    """Partitioned tier: the insert trigger logs every day that received rows since the
    last refresh, and the next ``maintain()`` recomputes exactly those days for every
    aggregate. So rows are late for as long as no refresh ran since they arrived: at
    most ``now - last_refresh`` (since the oldest logged day, when never refreshed);
    since migration 0014 exactly since the oldest entry was logged (``health_age``)."""
    if not await _readable(conn, "analytics_refresh_invalidations"):
        return aggregates
    oldest: dt.datetime | None = await conn.fetchval(
        "SELECT min(day) FROM analytics_refresh_invalidations"
    )
    if oldest is None:
        return aggregates
    arrived = await arrived_since(conn)
    waited = max(now - (arrived or last_refresh or oldest), dt.timedelta(0))
    return [_with_late(a, oldest, waited, now) for a in aggregates]


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
"""TimescaleDB keeps invalidation ranges as microseconds since the Unix epoch."""
_INTERNAL_MAX = 2**63 - 1


async def _late_timescale(
    conn: asyncpg.Connection[Any], aggregates: list[AggregateHealth], now: dt.datetime
) -> list[AggregateHealth]:
    """Timescale tier: TimescaleDB logs the time ranges written since each continuous
    aggregate's refresh (its invalidation logs). Ranges inside the materialised buckets
    and older than the policies' window (``REFRESH_WINDOW``) are late rows no policy will
    ever refresh: the aggregate stays wrong until ``maintain()``. They count as stale
    since their bucket began. The plain-table rollups derived from raw rows (the
    distributions, active users) are refreshed with them, so they share the oldest."""
    logs = (
        "_timescaledb_catalog.continuous_agg",
        "_timescaledb_catalog.continuous_aggs_hypertable_invalidation_log",
        "_timescaledb_catalog.continuous_aggs_materialization_invalidation_log",
    )
    for rel in logs:
        if not await _readable(conn, rel):
            return aggregates
    rows = await conn.fetch(f"SELECT c.user_view_name AS name, l.lo, l.hi {TIMESCALE_PENDING_SQL}")
    oldest_raw: dt.datetime | None = await conn.fetchval(
        f'SELECT min("timestamp") FROM {quote_ident(EVENTS_TABLE)}'
    )
    if oldest_raw is None:
        return aggregates
    horizon = now - REFRESH_WINDOW
    by_name = {a.name: a for a in aggregates}
    late: dict[str, dt.datetime] = {}
    for r in rows:
        agg = by_name.get(r["name"])
        if agg is None or agg.newest_bucket is None or r["hi"] >= _INTERNAL_MAX // 2:
            # Not one of ours, nothing materialised, or the open range above the
            # materialised buckets (what "missing buckets" measures).
            continue
        lo = max(_from_internal(r["lo"]), oldest_raw)
        hi = min(_from_internal(r["hi"]), horizon, agg.newest_bucket + dt.timedelta(days=1))
        if lo < hi:
            late[agg.name] = min(late.get(agg.name, lo), lo)
    if not late:
        return aggregates
    caggs = {
        str(n)
        for n in await conn.fetchval(
            "SELECT coalesce(array_agg(user_view_name::text), '{}')"
            " FROM _timescaledb_catalog.continuous_agg WHERE user_view_schema = current_schema()"
        )
    }
    derived = min(late.values())
    out = []
    for a in aggregates:
        since = late.get(a.name)
        if since is None and a.name not in caggs:
            since = derived  # the distributions and active users are refreshed with them
        out.append(_with_late(a, since, now - since if since else dt.timedelta(0), now))
    return out


def _from_internal(v: int) -> dt.datetime:
    try:
        return _EPOCH + dt.timedelta(microseconds=v)
    except OverflowError:  # TimescaleDB's -infinity / +infinity sentinels
        return (dt.datetime.min if v < 0 else dt.datetime.max).replace(tzinfo=dt.UTC)


async def _readable(conn: asyncpg.Connection[Any], relation: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT to_regclass($1) IS NOT NULL AND has_table_privilege($1, 'SELECT')", relation
        )
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
