"""Who was active on which UTC day, exactly, now: the rollup where it is current, raw rows
where it is not.

``DAILY_ACTIVE_USERS`` keeps one row per (UTC day, user) with at least one event: the
answer to "which users did anything on day D" without reading D's raw rows (4.0M narrow
rows instead of 10M with their jsonb, at the benchmark's mix). It is refreshed by the maintainer, so
at any instant some days may lack rows that are already in the raw table. A reader that
wants the exact answer (retention with "any event" as the return event) must know
which days those are, *in the same snapshot* as the rows it reads. Both tiers record
that in the writer's own transaction, so one statement sees a consistent pair:

* **partitioned tier**: the insert trigger logs each day that received rows since the
  last refresh (``REFRESH_INVALIDATIONS_TABLE``); the refresh recomputes a day and
  deletes its entries in one transaction. A day without an entry is current.
* **timescale tier**: TimescaleDB's own invalidation logs (the hypertable's, written at
  the writer's commit, and the aggregate's, where a refresh moves them) hold the time
  ranges modified since the aggregate last materialised them. The aggregate's log also
  holds what no refresh has materialised yet: it starts as (-inf, +inf) and each
  refresh cuts its window out. Rows above the invalidation threshold are not logged,
  but no refresh has reached there, so they lie in ranges the log already holds.

:func:`source` finds which of the two the database has (and whether this role may read
it: the catalog of a managed TimescaleDB may be closed); :func:`stale_days_sql` is the
SQL of the days in a range that must be read raw, always including the last, partial
day. Without a readable source the caller reads raw rows only (the old plan: exact,
just slower). Erasure (``forget_user``) deletes from the rollup as well as from the
raw rows, so an erased user is in neither.

**Weeks** (migration 0020): ``WEEKLY_ACTIVE_USERS`` holds one row per (week, user),
derived from the daily rollup (a quarter of its rows at the benchmark's mix). A week's
rows there are exact when none of its days is stale (above) and the weekly rollup has
folded in the daily rollup's last change to them. That second half is recorded in the
same snapshot too:

* **partitioned tier**: ``WEEKLY_PENDING_TABLE`` lists the weeks whose days the frequent
  refresh recomputed (in its transaction) since the full refresh last recomputed them
  from the daily rollup (in its transaction, emptying the list);
* **timescale tier**: the weekly rollup is a continuous aggregate on the daily one, so
  TimescaleDB logs every change of the daily rows for it (the same two logs, keyed by
  the daily aggregate's materialisation hypertable).

:func:`stale_weeks_sql` is the SQL of the weeks that must be read from the days
instead (also the partial weeks at either end of the range): each day of the range is
then read from exactly one place, the weekly rollup, the daily one or raw rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from ..schema.facts import (
    BUCKET_ORIGIN_SQL,
    DAILY_ACTIVE_USERS,
    REFRESH_INVALIDATIONS_TABLE,
    TIMESCALE_PENDING_SQL,
    WEEKLY_ACTIVE_USERS,
    WEEKLY_PENDING_TABLE,
)
from . import _exec

__all__ = ["DAY_OF", "WEEK_OF", "Source", "source", "stale_days_sql", "stale_weeks_sql"]


@dataclass(frozen=True, slots=True)
class Source:
    """The record of the rollups' current days this database has (``log``: the
    partitioned tier's; ``timescale``: TimescaleDB's invalidation logs), and whether the
    weekly rollup and its record are there and readable too."""

    kind: Literal["log", "timescale"]
    weekly: bool = False


_PROBE: Final = f"""
SELECT (CASE
    WHEN to_regclass('{REFRESH_INVALIDATIONS_TABLE}') IS NOT NULL
         AND to_regclass('{DAILY_ACTIVE_USERS}') IS NOT NULL
         AND has_table_privilege('{REFRESH_INVALIDATIONS_TABLE}', 'SELECT')
         AND has_table_privilege('{DAILY_ACTIVE_USERS}', 'SELECT')
        THEN 'log'
    WHEN to_regclass('_timescaledb_catalog.continuous_aggs_hypertable_invalidation_log')
             IS NOT NULL
         AND to_regclass('{DAILY_ACTIVE_USERS}') IS NOT NULL
         AND has_table_privilege('_timescaledb_catalog.continuous_agg', 'SELECT')
         AND has_table_privilege(
             '_timescaledb_catalog.continuous_aggs_hypertable_invalidation_log', 'SELECT')
         AND has_table_privilege(
             '_timescaledb_catalog.continuous_aggs_materialization_invalidation_log', 'SELECT')
         AND has_table_privilege('{DAILY_ACTIVE_USERS}', 'SELECT')
        THEN 'timescale'
END) AS kind,
to_regclass('{WEEKLY_ACTIVE_USERS}') IS NOT NULL
    AND has_table_privilege('{WEEKLY_ACTIVE_USERS}', 'SELECT')
    AND (to_regclass('{REFRESH_INVALIDATIONS_TABLE}') IS NULL
         OR (to_regclass('{WEEKLY_PENDING_TABLE}') IS NOT NULL
             AND has_table_privilege('{WEEKLY_PENDING_TABLE}', 'SELECT'))) AS weekly
"""

DAY_OF: Final = f"date_bin(INTERVAL '1 day', {{t}}, {BUCKET_ORIGIN_SQL})"
"""The start of the UTC day holding ``{t}``: the daily rollup's key."""
WEEK_OF: Final = f"date_bin(INTERVAL '7 days', {{t}}, {BUCKET_ORIGIN_SQL})"
"""The start of the week (Monday 00:00 UTC) holding ``{t}``: the weekly rollup's key.

(Binning is absolute time; moving a time by days is not: ``+ INTERVAL '1 day'`` keeps
the wall-clock time of the session's time zone, 23 or 25 hours across a DST change
outside UTC. So the SQL here adds hours: ``'24 hours'``, ``'168 hours'``.)"""


async def source(db: _exec.Db) -> Source | None:
    """Which record of the rollup's current days this database has and this role may
    read, or None (then the caller reads raw rows only)."""
    row = await _exec.fetchrow(db, "active_days.source", _PROBE)
    if row is None or row["kind"] not in ("log", "timescale"):
        return None
    return Source("log" if row["kind"] == "log" else "timescale", bool(row["weekly"]))


def _ranges_sql(src: Source, rollup: str = DAILY_ACTIVE_USERS) -> str:
    """``(lo, hi)`` timestamp ranges whose rows the rollup may lack (timescale tier:
    ``rollup`` names the continuous aggregate)."""
    if src.kind == "log":
        return (
            f"SELECT day AS lo, day + INTERVAL '24 hours' AS hi FROM {REFRESH_INVALIDATIONS_TABLE}"
        )
    # TimescaleDB's times are microseconds since the Unix epoch, with +-2^63 sentinels:
    # clipped to a sane range before the conversion. ``greatest_modified_value`` is
    # inclusive. The aggregate's own log starts as (-inf, +inf) when it is created and
    # each refresh cuts out what it materialised, so it also holds every range no
    # refresh has reached (above the invalidation threshold, where writes are not
    # logged): the watermark, the end of the newest bucket *with rows*, would needlessly
    # send the refreshed but empty days after it to the raw rows.
    clip = "least(greatest({v}, -62135596800000000), 253402300799000000)"
    # Exact: whole seconds through to_timestamp (integral doubles), the remainder as a
    # whole number of microseconds.
    as_ts = "(to_timestamp(div({v}, 1000000)) + mod({v}, 1000000) * INTERVAL '1 microsecond')"
    lo = as_ts.format(v=clip.format(v="l.lo"))
    hi = as_ts.format(v=clip.format(v="l.hi")) + " + INTERVAL '1 microsecond'"
    return f"""
        SELECT {lo} AS lo, {hi} AS hi {TIMESCALE_PENDING_SQL}
          AND c.user_view_name = '{rollup}'
        UNION ALL
        -- No aggregate of that name in this schema: nothing of the rollup is trusted.
        SELECT '-infinity'::timestamptz, 'infinity'::timestamptz
        WHERE NOT EXISTS (
            SELECT 1 FROM _timescaledb_catalog.continuous_agg c
            WHERE c.user_view_schema = current_schema()
              AND c.user_view_name = '{rollup}')"""


def stale_days_sql(src: Source, lo: str, hi: str) -> str:
    """A query of the UTC days (column ``day``) overlapping ``[lo, hi)`` (SQL
    expressions, typically bind parameters) that must be read from raw rows: those the
    rollup may lack rows of, and the day holding ``hi`` when ``hi`` is inside it (the
    rollup's day would count rows after ``hi``). Distinct days, each whole."""
    ranges = _ranges_sql(src)
    first = DAY_OF.format(t=f"greatest(s.lo, {lo})")
    last = f"least(s.hi, {hi}) - INTERVAL '1 microsecond'"
    return f"""
        SELECT DISTINCT generate_series({first}, {last}, INTERVAL '24 hours') AS day
        FROM ({ranges}
              UNION ALL SELECT {DAY_OF.format(t=hi)}, {hi}) AS s
        WHERE s.lo < {hi} AND s.hi > {lo}"""


def stale_weeks_sql(src: Source, lo: str, hi: str, stale: str) -> str:
    """A query of the weeks (column ``week``) overlapping ``[lo, hi)`` whose rows must
    not be read from the weekly rollup: those holding a day of ``stale`` (the name of a
    relation of :func:`stale_days_sql`'s days), those the weekly rollup has not caught
    up with (module docstring), and a week that ``lo`` or ``hi`` cuts. Distinct weeks."""
    if src.kind == "log":
        pending = f"""SELECT week FROM {WEEKLY_PENDING_TABLE}
            WHERE week > {lo} - INTERVAL '168 hours' AND week < {hi}"""
    else:
        first = WEEK_OF.format(t=f"greatest(s.lo, {lo})")
        last = f"least(s.hi, {hi}) - INTERVAL '1 microsecond'"
        pending = f"""SELECT generate_series({first}, {last}, INTERVAL '168 hours')
            FROM ({_ranges_sql(src, WEEKLY_ACTIVE_USERS)}) AS s
            WHERE s.lo < {hi} AND s.hi > {lo}"""
    cut = [WEEK_OF.format(t=t) for t in (lo, hi)]
    return f"""
        SELECT {WEEK_OF.format(t="day")} AS week FROM {stale}
        UNION {pending}
        UNION SELECT {cut[0]} WHERE {cut[0]} < {lo}
        UNION SELECT {cut[1]} WHERE {cut[1]} < {hi}"""
