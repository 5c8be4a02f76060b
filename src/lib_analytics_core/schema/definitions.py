"""Each aggregate's defining SELECT over a time range, on either tier.

The partitioned tier stores them in ``analytics_aggregate_refresh`` (what
``maintain()`` runs). The timescale tier has no such table (its continuous aggregates
hold their definitions), so there they are taken from the partitioned tier's migration
files (the ``$agg$`` rows they insert): one definition serves
the health check (what the raw rows would produce beyond the materialised buckets) and
the benchmarks (the same question asked of raw rows) on both tiers.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import asyncpg

from .facts import BUCKET_ORIGIN_SQL, DISTRIBUTIONS, EVENTS_TABLE, quote_ident
from .migrate import load_migrations
from .server import SchemaTier

__all__ = ["AggregateDefinition", "aggregate_definitions", "distribution_sources"]

_ROW = re.compile(
    r"VALUES \('(?P<name>\w+)', \d+, '(?P<col>\w+)',\s*INTERVAL '(?P<width>[^']+)',\s*"
    r"\$agg\$(?P<sql>.*?)\$agg\$\)",
    re.DOTALL,
)
_WIDTHS = {"1 day": dt.timedelta(days=1), "1 hour": dt.timedelta(hours=1)}


@dataclass(frozen=True, slots=True)
class AggregateDefinition:
    """One aggregate: its bucket column and width, and its SELECT over ``[$1, $2)``."""

    name: str
    bucket_column: str
    width: dt.timedelta
    refresh_sql: str
    """A SELECT with the aggregate's columns, restricted to source rows in ``[$1, $2)``."""

    @property
    def quoted_bucket(self) -> str:
        return quote_ident(self.bucket_column)


def _from_migrations() -> list[AggregateDefinition]:
    found: dict[str, AggregateDefinition] = {}
    for mig in load_migrations():
        for m in _ROW.finditer(mig.sql(SchemaTier.PARTITIONED)):
            found[m["name"]] = AggregateDefinition(
                m["name"], m["col"], _WIDTHS[m["width"]], m["sql"]
            )
    return list(found.values())


async def aggregate_definitions(conn: asyncpg.Connection[Any]) -> list[AggregateDefinition]:
    """The definitions of the aggregates that exist in ``conn``'s schema, refresh order."""
    if await conn.fetchval("SELECT to_regclass('analytics_aggregate_refresh') IS NOT NULL"):
        rows = await conn.fetch(
            "SELECT name, bucket_column, bucket_width, refresh_sql"
            " FROM analytics_aggregate_refresh ORDER BY position"
        )
        return [
            AggregateDefinition(r["name"], r["bucket_column"], r["bucket_width"], r["refresh_sql"])
            for r in rows
        ]
    defs = _from_migrations()
    present = await conn.fetch(
        "SELECT n FROM unnest($1::text[]) AS n WHERE to_regclass(n) IS NOT NULL",
        [d.name for d in defs],
    )
    names = {r["n"] for r in present}
    return [d for d in defs if d.name in names]


def _distribution_source(name: str) -> AggregateDefinition:
    """Which buckets of ``name`` the raw rows call for: the bucket of every source row in
    ``[$1, $2)``. Enough for staleness (a bucket with source rows but no rollup row is
    missing); the rollup's contents are ``analytics_refresh_distributions()``'s job."""
    hourly = "_hour_" in name
    width = dt.timedelta(hours=1) if hourly else dt.timedelta(days=1)
    interval = "1 hour" if hourly else "1 day"
    col = "day" if name == "analytics_task_durations_daily" else "bucket"
    if col == "day":
        # Only durations the histogram can hold make a row (hostile values are left out).
        where = (
            "event_type IN ('task_completed', 'task_failed') AND "
            "analytics_hist_key(analytics_json_duration(data->'duration_ms')) IS NOT NULL"
        )
    else:
        where = "event_type = 'api_request'"
    sql = (
        f"SELECT date_bin(INTERVAL '{interval}', \"timestamp\", {BUCKET_ORIGIN_SQL}) AS {col}"
        f' FROM {quote_ident(EVENTS_TABLE)} WHERE "timestamp" >= $1 AND "timestamp" < $2'
        f" AND {where}"
    )
    return AggregateDefinition(name, col, width, sql)


async def distribution_sources(conn: asyncpg.Connection[Any]) -> list[AggregateDefinition]:
    """The distribution rollups present in ``conn``'s schema, as staleness definitions."""
    present = await conn.fetch(
        "SELECT n FROM unnest($1::text[]) AS n WHERE to_regclass(n) IS NOT NULL",
        list(DISTRIBUTIONS),
    )
    names = {r["n"] for r in present}
    return [_distribution_source(n) for n in DISTRIBUTIONS if n in names]
