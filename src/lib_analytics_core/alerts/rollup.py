"""Per-minute request counts of each SLO, kept current from the raw ``api_request`` rows.

Why a rollup of its own: the windows go from 5 minutes to 3 days (and 30 days for the
attainment). Summing raw rows for 3 days of a busy service on every evaluation costs
what the traffic costs; the aggregates of migrations 0002/0004 are hourly and refreshed
in batches, too coarse and too late for a 5-minute window. So each SLO definition keeps
its own minutes (``analytics_alert_minutes``): every evaluation recomputes, from raw rows,
the minutes since its last one (plus :data:`LATE` before, for events that arrive a little
late), and a window is a sum of at most 4,320 narrow rows.

Definition (the one the tests' reference implementation follows): a window of length
``w`` as of ``at`` holds the whole minutes ``[floor(at) - w, floor(at))`` from the
rollup plus the running minute ``[floor(at), at)`` read raw: for a minute-aligned ``at``
exactly ``[at - w, at)``. Events written more than :data:`LATE` after their timestamp
(and after an evaluation passed that minute) are not counted: a backfill of old
history needs the rollup of that SLO dropped (a changed definition does it).

Bad: ``availability``: ``status_code >= 500``; ``latency``: ``duration_ms >
threshold_ms``; rows whose field is not a number count as requests, not as bad ones.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from typing import Any, Final

from ..events.catalog import ApiRequest
from ..read import _exec
from ..read.filters import Filter, number_sql, where_sql
from ..schema.facts import (
    ALERT_MINUTES_TABLE,
    ALERT_ROLLUPS_TABLE,
    BUCKET_ORIGIN_SQL,
    EVENTS_TABLE,
)
from .burn import WINDOWS, Counts
from .rules import Slo

__all__ = ["LATE", "MINUTE", "floor_minute", "kept", "refresh", "window_counts"]

MINUTE: Final = _dt.timedelta(minutes=1)
#: Minutes before the last evaluated one that every evaluation recomputes from raw rows:
#: the worker writes batches every few seconds, a restarting one within a minute or two.
LATE: Final = _dt.timedelta(minutes=2)
_ORIGIN: Final = _dt.datetime(2000, 1, 3, tzinfo=_dt.UTC)


def floor_minute(t: _dt.datetime) -> _dt.datetime:
    return t - ((t - _ORIGIN) % MINUTE)


def kept(slo: Slo) -> _dt.timedelta:
    """How far back ``slo``'s minutes are kept: its SLO window or the longest burn
    window, whichever is longer."""
    return max(slo.window, *WINDOWS)


def _source(slo: Slo, params: _exec.Params) -> tuple[str, str]:
    """WHERE conditions (after the time range) and the bad-request predicate of ``slo``."""
    where = [f"event_type = {params.add(ApiRequest.event_type)}"]
    if slo.service is not None:
        where.append(f"service = {params.add(slo.service)}")
    filters = [
        Filter(name, "=", value)
        for name, value in (("endpoint", slo.endpoint), ("method", slo.method))
        if value is not None
    ]
    where += where_sql(filters, params)
    if slo.kind == "availability":
        bad = f"{number_sql('status_code', params)} >= 500"
    else:
        bad = f"{number_sql('duration_ms', params)} > {params.add(slo.threshold_ms)}"
    return " AND ".join(where), f"coalesce({bad}, false)"


async def refresh(conn: Any, slo: Slo, at: _dt.datetime) -> None:
    """Bring ``slo``'s minutes up to ``floor(at)`` (module docstring); in the caller's
    transaction, so a crash leaves the previous complete state."""
    key = slo.key()
    hi = floor_minute(at)
    oldest = hi - kept(slo)
    row = await conn.fetchrow(
        f"SELECT filled_from, complete_to FROM {ALERT_ROLLUPS_TABLE} WHERE rule_key = $1"
        " FOR UPDATE",
        key,
    )
    if row is None or row["filled_from"] > oldest:
        lo = oldest
    else:
        lo = max(min(row["complete_to"], hi) - LATE, oldest)
    if lo < hi:
        await _recompute(conn, slo, lo, hi)
    await conn.execute(
        f"INSERT INTO {ALERT_ROLLUPS_TABLE} AS r"
        " (rule_key, rule, objective, window_s, filled_from, complete_to)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (rule_key) DO UPDATE SET"
        " objective = EXCLUDED.objective, window_s = EXCLUDED.window_s,"
        " filled_from = EXCLUDED.filled_from, complete_to = EXCLUDED.complete_to",
        key,
        slo.name,
        slo.objective,
        int(slo.window.total_seconds()),
        oldest,
        hi,
    )
    # Minutes no window reaches any more: what is kept is [oldest, hi).
    await conn.execute(
        f"DELETE FROM {ALERT_MINUTES_TABLE} WHERE rule_key = $1 AND minute < $2", key, oldest
    )


async def _recompute(conn: Any, slo: Slo, lo: _dt.datetime, hi: _dt.datetime) -> None:
    params = _exec.Params(slo.key(), lo, hi)
    where, bad = _source(slo, params)
    await conn.execute(
        f"DELETE FROM {ALERT_MINUTES_TABLE} WHERE rule_key = $1 AND minute >= $2 AND minute < $3",
        slo.key(),
        lo,
        hi,
    )
    await conn.execute(
        f"INSERT INTO {ALERT_MINUTES_TABLE} (rule_key, minute, total, bad)"
        f" SELECT $1, date_bin(INTERVAL '1 minute', \"timestamp\", {BUCKET_ORIGIN_SQL}),"
        f" count(*), count(*) FILTER (WHERE {bad})"
        f' FROM {EVENTS_TABLE} WHERE "timestamp" >= $2 AND "timestamp" < $3 AND {where}'
        " GROUP BY 2",
        *params.values,
    )


async def window_counts(
    conn: Any, slo: Slo, at: _dt.datetime, windows: Sequence[_dt.timedelta]
) -> dict[_dt.timedelta, Counts]:
    """Requests and bad requests of ``slo`` in each window as of ``at`` (the rollup must
    be current: :func:`refresh`). One statement over the rollup, one over raw rows of
    the running minute (none when ``at`` is minute-aligned)."""
    hi = floor_minute(at)
    longest = max(windows)
    filters = ", ".join(
        f"sum(total) FILTER (WHERE minute >= ${i + 4}), sum(bad) FILTER (WHERE minute >= ${i + 4})"
        for i in range(len(windows))
    )
    row = await _exec.fetchrow(
        conn,
        "alerts.window_counts",
        f"SELECT {filters} FROM {ALERT_MINUTES_TABLE}"
        " WHERE rule_key = $1 AND minute >= $2 AND minute < $3",
        slo.key(),
        hi - longest,
        hi,
        *(hi - w for w in windows),
    )
    running = Counts(0, 0)
    if at > hi:
        params = _exec.Params(hi, at)
        where, bad = _source(slo, params)
        r = await _exec.fetchrow(
            conn,
            "alerts.running_minute",
            f"SELECT count(*), count(*) FILTER (WHERE {bad}) FROM {EVENTS_TABLE}"
            f' WHERE "timestamp" >= $1 AND "timestamp" < $2 AND {where}',
            *params.values,
        )
        assert r is not None
        running = Counts(int(r[0]), int(r[1]))
    out: dict[_dt.timedelta, Counts] = {}
    for i, w in enumerate(windows):
        total = row[2 * i] if row is not None else None
        bad_n = row[2 * i + 1] if row is not None else None
        out[w] = Counts(int(total or 0) + running.total, int(bad_n or 0) + running.bad)
    return out
