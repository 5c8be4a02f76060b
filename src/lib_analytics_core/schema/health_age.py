"""How old is the oldest source row an aggregate is missing? (``schema_health``'s staleness)

Staleness used to be measured from the start of the oldest missing *bucket*: the first
event of a quiet type late in the UTC day made a daily aggregate "stale (5.2h > 2.0h)"
a minute after it was written, and the probe flapped (issue 29). The age that matters
is the row's: how long has the oldest row that the aggregate does not yet count been
waiting?

* When the row arrived is known on the partitioned tier: the insert trigger logs each
  day that received rows, and since migration 0014 when (``logged_at``, the writer's
  transaction time). Until a refresh consumes that entry, every row of that day is one
  the aggregates may lack, so the oldest entry's ``logged_at`` is when the oldest such
  row arrived.
* Elsewhere (the timescale tier's rows beyond the materialised buckets) the row's own
  event time is the bound: live rows are written after they happen, so ``now - event
  time`` never understates how long one has waited (a back-dated row counts as old as
  its date, which is how long a reader of that date has been missing it).

:func:`oldest_source_row` finds the event time of the oldest source row of one
missing bucket with the aggregate's own definition, by bisection over its lower bound
(the definition reads only rows in ``[$1, $2)``): about ``log2(width / RESOLUTION)``
small queries over that one bucket's rows, run only for an aggregate that is missing a
bucket.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg

from .definitions import AggregateDefinition

__all__ = ["RESOLUTION", "arrived_since", "oldest_source_row"]

RESOLUTION = dt.timedelta(minutes=1)
"""Staleness may overstate a row's age by less than this (never understate it)."""


async def oldest_source_row(
    conn: asyncpg.Connection[Any], d: AggregateDefinition, bucket: dt.datetime
) -> dt.datetime:
    """The start of the ``RESOLUTION``-wide interval holding the event time of the oldest
    source row of ``d``'s bucket ``bucket`` (which must have source rows)."""
    col = d.quoted_bucket
    probe = f"SELECT EXISTS (SELECT 1 FROM ({d.refresh_sql}) AS s WHERE {col} = $3::timestamptz)"
    # Invariant: no source row of the bucket in [bucket, lo); one in [bucket, top).
    lo, top = bucket, bucket + d.width
    while top - lo > RESOLUTION:
        mid = lo + (top - lo) / 2
        if await conn.fetchval(probe, bucket, mid, bucket):
            top = mid
        else:
            lo = mid
    return lo


async def arrived_since(conn: asyncpg.Connection[Any], day: dt.datetime | None = None) -> Any:
    """When the oldest still-logged row arrived (of ``day``, or of any day); None when
    nothing is logged, or only entries from before migration 0014 (no ``logged_at``)."""
    if not await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM pg_attribute"
        " WHERE attrelid = to_regclass('analytics_refresh_invalidations')"
        " AND attname = 'logged_at' AND NOT attisdropped)"
    ):
        return None
    return await conn.fetchval(
        "SELECT min(logged_at) FROM analytics_refresh_invalidations"
        " WHERE $1::timestamptz IS NULL OR day = $1",
        day,
    )
