"""The frequent, cheap refresh that puts a freshly tracked event into every answer.

:func:`~.maintenance.maintain` is the whole lifecycle (partitions, retention,
compression, the 3-day refresh window) and is run every few minutes at most. Between
two such passes the maintainer (``schema/maintainer.py``) calls :func:`refresh_recent`
every ``refresh_every`` (15 s by default), which recomputes only what new rows changed:

* **partitioned tier**: exactly the days in the invalidation log (the insert trigger's
  record of the days that received rows since the last refresh); nothing when it is
  empty, so an idle database costs one ``SELECT`` per tick. The per-user weekly rollup
  is not recomputed here: the weeks of those days are listed as pending for the next
  full pass (:mod:`.maintenance_weekly`);
* **timescale tier**: every continuous aggregate over yesterday and today
  (TimescaleDB only recomputes the invalidated or not yet materialised regions), then
  the plain-table rollups (active users, distributions) of those two days. This is
  the work of the refresh policies, so it keeps the numbers moving where the
  scheduler is off or failing, and it is harmless beside a scheduler that works.

It never waits for a running ``maintain()`` (``analytics-migrate maintain`` or another
process): the maintenance advisory lock is *tried* inside a transaction (so it is
released with the transaction, also behind a transaction-mode pooler), and a busy lock
skips the tick: that pass refreshes the same days anyway.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg

from .._db import translate
from .facts import MAINTENANCE_LOCK_KEY, floor_day
from .maintenance import (
    MaintenanceReport,
    _refresh_active_users,
    _refresh_distributions,
    _refresh_partitioned,
)
from .server import SchemaTier, recorded_tier
from .timescale import refresh_caggs

__all__ = ["refresh_recent"]

_DAY = dt.timedelta(days=1)
_TRY_LOCK = "SELECT pg_try_advisory_xact_lock($1)"


async def refresh_recent(conn: asyncpg.Connection[Any]) -> MaintenanceReport | None:
    """Refresh what rows written since the last refresh changed (see the module
    docstring); None when a maintenance pass holds the lock (nothing was done).

    Must not be called inside a transaction on the timescale tier
    (``refresh_continuous_aggregate`` refuses to run in one).
    """
    with translate("refreshing recent aggregates"):
        tier = await recorded_tier(conn)
        now: dt.datetime = await conn.fetchval("SELECT now()")
        if tier is SchemaTier.PARTITIONED:
            if not await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM analytics_refresh_invalidations)"
            ):
                return MaintenanceReport(tier=tier)
            async with conn.transaction():
                if not await conn.fetchval(_TRY_LOCK, MAINTENANCE_LOCK_KEY):
                    return None
                ranges = await _refresh_partitioned(conn, now, None, None, window=False)
            return MaintenanceReport(tier=tier, refreshed_ranges=ranges)
        lo, hi = floor_day(now) - _DAY, floor_day(now) + _DAY
        refreshed = await refresh_caggs(conn, lo, hi)
        if refreshed is None:
            return MaintenanceReport(tier=tier)
        async with conn.transaction():
            if not await conn.fetchval(_TRY_LOCK, MAINTENANCE_LOCK_KEY):
                return None
            await _refresh_active_users(conn, *refreshed)
            await _refresh_distributions(conn, *refreshed)
        return MaintenanceReport(tier=tier, refreshed_ranges=(refreshed,))
