"""Every fact about the analytics schema that Python code needs, in one place.

Names of relations, the bucket origin, the lifecycle windows and the advisory-lock keys
are used by the migrations (SQL), the maintenance, the erasure, the health checks and
the read side. Writing them once here is what keeps those in step: the shipped SQL files
(which are checksummed and never edited) use the same literals, and
``tests/test_migrate.py`` checks that they still agree with this module.

The schema lives in the connection's ``search_path`` (``current_schema()``): migrations
create it there and every other layer reads and writes it there. A service that keeps
analytics in another schema sets the search path in its DSN
(``?options=-csearch_path%3Danalytics``), so there is no per-call ``schema``/``table``
knob that could disagree with what the migrations created.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Final

from .._errors import ConfigurationError

__all__ = [
    "ACTIVE_USERS_TABLE",
    "AGGREGATES",
    "API_LATENCY_DAILY",
    "API_LATENCY_HOURLY",
    "API_LEVELS",
    "API_WIDTHS",
    "AUTH_EVENTS_TABLE",
    "BUCKET_ORIGIN",
    "BUCKET_ORIGIN_SQL",
    "COCOON_ACTIVITY_TABLE",
    "COMPRESS_AFTER",
    "CUMULATIVE",
    "DAILY_ACTIVE_USERS",
    "DEAD_LETTER_TABLE",
    "DERIVED_ROLLUPS",
    "DISTRIBUTIONS",
    "ERRORS_TABLE",
    "EVENTS_TABLE",
    "EVENT_TRENDS_DAILY",
    "EVENT_TRENDS_HOURLY",
    "HISTORY_TABLE",
    "INTEGRATION_HEALTH_TABLE",
    "MAINTAINER_LEASE_NAME",
    "MAINTAINER_LEASE_TABLE",
    "MAINTENANCE_LOCK_KEY",
    "MIGRATION_LOCK_KEY",
    "ORDERED_DAYS_TABLE",
    "ORDER_AFTER",
    "ORDER_PER_RUN",
    "PREMAKE",
    "RAW_RETENTION",
    "REFRESH_INVALIDATIONS_TABLE",
    "REFRESH_WINDOW",
    "TASK_DURATIONS_TABLE",
    "TASK_STATS_TABLE",
    "TIMESCALE_PENDING_SQL",
    "WEEKLY_ACTIVE_USERS",
    "WEEKLY_PENDING_TABLE",
    "api_rollup",
    "api_running",
    "ceil_day",
    "floor_day",
    "quote_ident",
]

EVENTS_TABLE: Final = "analytics_events"
"""Raw events: a hypertable (timescale tier) or a table partitioned by UTC day."""
DEAD_LETTER_TABLE: Final = "analytics_dead_letters"
"""Events the library or the database refused, kept as text with the reason."""
REFRESH_INVALIDATIONS_TABLE: Final = "analytics_refresh_invalidations"
"""Partitioned tier: the UTC days that received rows since the last aggregate refresh
(written by the insert trigger in the writer's transaction, consumed by the refresh)."""
TIMESCALE_PENDING_SQL: Final = """
        FROM _timescaledb_catalog.continuous_agg c
        JOIN LATERAL (
            SELECT lowest_modified_value AS lo, greatest_modified_value AS hi
            FROM _timescaledb_catalog.continuous_aggs_hypertable_invalidation_log
            WHERE hypertable_id = c.raw_hypertable_id
            UNION ALL
            SELECT lowest_modified_value, greatest_modified_value
            FROM _timescaledb_catalog.continuous_aggs_materialization_invalidation_log
            WHERE materialization_id = c.mat_hypertable_id
        ) l ON true
        WHERE c.user_view_schema = current_schema()"""
"""Timescale tier, the FROM/WHERE of a query of what each continuous aggregate of this
schema has not materialised as the rows are now: ``c`` the aggregate (``user_view_name``),
``l.lo``/``l.hi`` an inclusive range in microseconds since the Unix epoch (+-2^63 for
infinities). The hypertable's log is written at the writer's commit; the aggregate's own
holds what refreshes moved there and what no refresh reached yet (it starts as
(-inf, +inf)). Read by the health report (late rows) and by the read layer (which days
of the active-users rollup are current)."""
HISTORY_TABLE: Final = "analytics_schema_migrations"
"""One row per applied migration (checksum, tier, duration)."""
DAILY_ACTIVE_USERS: Final = "analytics_daily_active_users"
"""Day x user: the one aggregate that holds user ids (erasure must reach it)."""
WEEKLY_ACTIVE_USERS: Final = "analytics_weekly_active_users"
"""Week (Monday, UTC) x user, derived from DAILY_ACTIVE_USERS (migration 0020): a quarter
of its rows for weekly retention with "any event". Holds user ids (erasure reaches it)."""
WEEKLY_PENDING_TABLE: Final = "analytics_weekly_pending"
"""Partitioned tier: the weeks whose days DAILY_ACTIVE_USERS recomputed since
WEEKLY_ACTIVE_USERS last did (written by the frequent refresh, consumed by the full one,
each in the same transaction as the rollup rows it concerns)."""
ACTIVE_USERS_TABLE: Final = "analytics_active_users_daily"
"""Precomputed DAU/WAU/MAU per day (migration 0003), derived from DAILY_ACTIVE_USERS."""

TASK_STATS_TABLE: Final = "analytics_task_stats_daily"
"""Task outcomes and duration counts per day."""
API_LATENCY_HOURLY: Final = "analytics_api_latency_hourly"
API_LATENCY_DAILY: Final = "analytics_api_latency_daily"
INTEGRATION_HEALTH_TABLE: Final = "analytics_integration_health_daily"
"""Integration usage per provider and day."""
AUTH_EVENTS_TABLE: Final = "analytics_auth_events_daily"
"""Logins, codes, token refreshes and session checks per day."""
COCOON_ACTIVITY_TABLE: Final = "analytics_cocoon_activity_daily"
"""Cocoon lifecycle events per day."""
ERRORS_TABLE: Final = "analytics_errors_hourly"
"""Errors per hour, service and error type, with a sample message."""
EVENT_TRENDS_HOURLY: Final = "analytics_event_trends_hourly"
EVENT_TRENDS_DAILY: Final = "analytics_event_trends_daily"
"""Events and distinct users per bucket, event type and service (migration 0008)."""

AGGREGATES: Final = (
    # Refresh order: a rollup after its source (api_latency_daily reads the hourly one).
    DAILY_ACTIVE_USERS,
    TASK_STATS_TABLE,
    API_LATENCY_HOURLY,
    API_LATENCY_DAILY,
    INTEGRATION_HEALTH_TABLE,
    AUTH_EVENTS_TABLE,
    COCOON_ACTIVITY_TABLE,
    ERRORS_TABLE,
    EVENT_TRENDS_HOURLY,
    EVENT_TRENDS_DAILY,
)
"""The aggregates of migrations 0002 and 0008 (continuous aggregates on TimescaleDB), in
refresh order."""

DERIVED_ROLLUPS: Final = (WEEKLY_ACTIVE_USERS,)
"""Rollups of a rollup (migration 0020; a continuous aggregate on another one on
TimescaleDB), refreshed after their source by ``schema.maintenance_weekly``. Not in
:data:`AGGREGATES`: the API does not require them (a reader without one takes the days
instead) and the health report does not judge their freshness (they lag their source by
design: only ended weeks are rolled up)."""

API_WIDTHS: Final = ("hour", "day")
"""Bucket widths of the API latency rollups."""
API_LEVELS: Final = ("total", "service", "endpoint")
"""Grouping levels of the API latency rollups (all services, per service, per endpoint)."""


def api_rollup(width: str, level: str) -> str:
    """The sparse-distribution rollup of migration 0004 at ``width`` x ``level``."""
    if width not in API_WIDTHS or level not in API_LEVELS:
        raise ValueError(f"no API rollup {width!r} x {level!r}")
    return f"analytics_api_{width}_{level}"


def api_running(level: str) -> str:
    """The running (prefix) distributions of migrations 0007/0009 at ``level``."""
    if level not in API_LEVELS:
        raise ValueError(f"no running API distribution at level {level!r}")
    return f"analytics_cum_api_{level}"


TASK_DURATIONS_TABLE: Final = "analytics_task_durations_daily"
"""Task duration distributions per day (migration 0004)."""

DISTRIBUTIONS: Final = (
    *(api_rollup(w, g) for w in API_WIDTHS for g in API_LEVELS),
    TASK_DURATIONS_TABLE,
)
"""The sparse-distribution rollups of migration 0004 (plain tables on both tiers, filled
by ``analytics_refresh_distributions()``), one per question grain."""

CUMULATIVE: Final = tuple(api_running(g) for g in API_LEVELS)
"""The running distributions of migration 0007, one per level of the daily API rollups,
derived from them (not from raw rows) by ``analytics_refresh_distributions()`` right after
it refreshed those: their freshness is that of ``analytics_api_day_*``."""

BUCKET_ORIGIN: Final = dt.datetime(2000, 1, 3, tzinfo=dt.UTC)
"""Origin of every day/hour bucket: a Monday at 00:00 UTC, TimescaleDB's default
``time_bucket`` origin, so ``date_bin`` on plain PostgreSQL yields the same buckets."""
BUCKET_ORIGIN_SQL: Final = "TIMESTAMPTZ '2000-01-03 00:00:00+00'"
""":data:`BUCKET_ORIGIN` as the SQL literal the migrations use."""

REFRESH_WINDOW: Final = dt.timedelta(days=3)
"""Aggregates are recomputed over the last 3 days on every refresh (late events)."""
RAW_RETENTION: Final = dt.timedelta(days=90)
"""Raw events older than this are dropped (whole days); aggregates keep their history."""
COMPRESS_AFTER: Final = dt.timedelta(days=7)
"""Timescale tier: chunks entirely older than this are compressed."""
PREMAKE: Final = dt.timedelta(days=7)
"""Partitioned tier: daily partitions are created this far ahead."""
ORDERED_DAYS_TABLE: Final = "analytics_ordered_days"
"""Partitioned tier: the days whose partition ``maintain()`` ordered by event type
(migration 0013), so one type's rows sit on pages of their own (explore's reads)."""
ORDER_AFTER: Final = REFRESH_WINDOW
"""Partitioned tier: a day is ordered once it ended this long ago (past the refresh
window: late events and the aggregates' refresh no longer touch it)."""
ORDER_PER_RUN: Final = 7
"""Partitioned tier: at most this many days are ordered per ``maintain()`` run (a
backlog after upgrading is worked off over several runs, each run stays short)."""

MIGRATION_LOCK_KEY: Final = 7236912001
"""Advisory lock key serialising migration runs (per database)."""
MAINTENANCE_LOCK_KEY: Final = 7236912002
"""Advisory lock key serialising maintenance (also taken inside the partition functions)."""
MAINTAINER_LEASE_TABLE: Final = "analytics_maintainer_lease"
"""The lease row that elects one maintainer per database (migration 0014)."""
MAINTAINER_LEASE_NAME: Final = "maintainer"
"""The one lease row's key."""

_DAY = dt.timedelta(days=1)
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")


def quote_ident(name: str) -> str:
    """``name`` as a double-quoted SQL identifier.

    Only plain identifiers are accepted (letters, digits, ``_``, ``$``; at most 63
    bytes): every name the library quotes is one of its own or a catalog name of that
    shape, so anything else is a bug or an attack and is refused rather than escaped.
    """
    if not _IDENT.match(name):
        raise ConfigurationError(f"invalid SQL identifier {name!r}")
    return '"' + name + '"'


def floor_day(t: dt.datetime) -> dt.datetime:
    """Start of the UTC day bucket holding ``t``."""
    t = t.astimezone(dt.UTC)
    return t.replace(hour=0, minute=0, second=0, microsecond=0)


def ceil_day(t: dt.datetime) -> dt.datetime:
    """``t`` if it starts a UTC day, else the start of the next one."""
    f = floor_day(t)
    return f if f == t else f + _DAY


# ------------------------------------------------------------- alerts (migration 0017)

ALERT_MINUTES_TABLE: Final = "analytics_alert_minutes"
"""Requests and bad requests per minute of one SLO definition (``alerts.rollup``)."""
ALERT_ROLLUPS_TABLE: Final = "analytics_alert_rollups"
"""Per SLO definition: objective, window and how far its minutes are complete."""
ALERT_STATES_TABLE: Final = "analytics_alert_states"
"""The current state of every alert rule."""
ALERT_HISTORY_TABLE: Final = "analytics_alert_history"
"""Every change of an alert rule's state."""
ALERT_DELIVERIES_TABLE: Final = "analytics_alert_deliveries"
"""The webhook outbox: one row per change and webhook, pending until delivered."""
ALERTS_LOCK_KEY: Final = 7236912003
"""Advisory lock key serialising alert evaluations (one evaluator at a time per database)."""

__all__ += [
    "ALERTS_LOCK_KEY",
    "ALERT_DELIVERIES_TABLE",
    "ALERT_HISTORY_TABLE",
    "ALERT_MINUTES_TABLE",
    "ALERT_ROLLUPS_TABLE",
    "ALERT_STATES_TABLE",
]
