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
    "BUCKET_ORIGIN",
    "BUCKET_ORIGIN_SQL",
    "COMPRESS_AFTER",
    "CUMULATIVE",
    "DAILY_ACTIVE_USERS",
    "DEAD_LETTER_TABLE",
    "DISTRIBUTIONS",
    "EVENTS_TABLE",
    "HISTORY_TABLE",
    "MAINTENANCE_LOCK_KEY",
    "MIGRATION_LOCK_KEY",
    "PREMAKE",
    "RAW_RETENTION",
    "REFRESH_WINDOW",
    "ceil_day",
    "floor_day",
    "quote_ident",
]

EVENTS_TABLE: Final = "analytics_events"
"""Raw events: a hypertable (timescale tier) or a table partitioned by UTC day."""
DEAD_LETTER_TABLE: Final = "analytics_dead_letters"
"""Events the library or the database refused, kept as text with the reason."""
HISTORY_TABLE: Final = "analytics_schema_migrations"
"""One row per applied migration (checksum, tier, duration)."""
DAILY_ACTIVE_USERS: Final = "analytics_daily_active_users"
"""Day x user: the one aggregate that holds user ids (erasure must reach it)."""
ACTIVE_USERS_TABLE: Final = "analytics_active_users_daily"
"""Precomputed DAU/WAU/MAU per day (migration 0003), derived from DAILY_ACTIVE_USERS."""

AGGREGATES: Final = (
    # Refresh order: a rollup after its source (api_latency_daily reads the hourly one).
    DAILY_ACTIVE_USERS,
    "analytics_task_stats_daily",
    "analytics_api_latency_hourly",
    "analytics_api_latency_daily",
    "analytics_integration_health_daily",
    "analytics_auth_events_daily",
    "analytics_cocoon_activity_daily",
    "analytics_errors_hourly",
    "analytics_event_trends_hourly",
    "analytics_event_trends_daily",
)
"""The aggregates of migrations 0002 and 0008 (continuous aggregates on TimescaleDB), in
refresh order."""

DISTRIBUTIONS: Final = (
    *(f"analytics_api_{w}_{g}" for w in ("hour", "day") for g in ("total", "service", "endpoint")),
    "analytics_task_durations_daily",
)
"""The sparse-distribution rollups of migration 0004 (plain tables on both tiers, filled
by ``analytics_refresh_distributions()``), one per question grain."""

CUMULATIVE: Final = tuple(f"analytics_cum_api_{g}" for g in ("total", "service", "endpoint"))
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

MIGRATION_LOCK_KEY: Final = 7236912001
"""Advisory lock key serialising migration runs (per database)."""
MAINTENANCE_LOCK_KEY: Final = 7236912002
"""Advisory lock key serialising maintenance (also taken inside the partition functions)."""

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
