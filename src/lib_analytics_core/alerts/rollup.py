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

__all__ = [
    "LATE",
    "MINUTE",
    "WINDOW_SQL",
    "floor_minute",
    "kept",
    "refresh",
    "refresh_all",
    "window_counts",
    "window_counts_all",
]

MINUTE: Final = _dt.timedelta(minutes=1)
#: Minutes before the last evaluated one that every evaluation recomputes from raw rows:
#: the worker writes batches every few seconds, a restarting one within a minute or two.
LATE: Final = _dt.timedelta(minutes=2)
_ORIGIN: Final = _dt.datetime(2000, 1, 3, tzinfo=_dt.UTC)


#: The requests and bad ones of each key ($1) in each window [a, $3) (a in $2): the running
#: sums of the window's last minute minus those before its first one (two index lookups;
#: ft is NULL when the window holds no minute with requests). Shared with the read side.
WINDOW_SQL: Final = f"""
SELECT k.k, w.i, l.cum_total AS lt, l.cum_bad AS lb,
       f.cum_total - f.total AS ft, f.cum_bad - f.bad AS fb
FROM unnest($1::text[]) AS k(k)
CROSS JOIN unnest($2::timestamptz[]) WITH ORDINALITY AS w(a, i)
LEFT JOIN LATERAL (SELECT cum_total, cum_bad FROM {ALERT_MINUTES_TABLE}
                   WHERE rule_key = k.k AND minute < $3
                   ORDER BY minute DESC LIMIT 1) AS l ON TRUE
LEFT JOIN LATERAL (SELECT cum_total, total, cum_bad, bad FROM {ALERT_MINUTES_TABLE}
                   WHERE rule_key = k.k AND minute >= w.a AND minute < $3
                   ORDER BY minute LIMIT 1) AS f ON TRUE
"""


def floor_minute(t: _dt.datetime) -> _dt.datetime:
    return t - ((t - _ORIGIN) % MINUTE)


def kept(slo: Slo) -> _dt.timedelta:
    """How far back ``slo``'s minutes are kept: its SLO window or the longest burn
    window, whichever is longer."""
    return max(slo.window, *WINDOWS)


def _source(slo: Slo, params: _exec.Params) -> tuple[str, str]:
    """``slo``'s condition on an ``api_request`` row (service, endpoint, method; TRUE when
    none) and its bad-request predicate, as SQL over bind parameters."""
    where = []
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
    return " AND ".join(where) or "TRUE", f"coalesce({bad}, false)"


def _counts_sql(
    slos: Sequence[Slo], params: _exec.Params, lo: str, hi: str, *, per_minute: bool
) -> str:
    """One scan of the ``api_request`` rows in ``[lo, hi)`` counting every SLO's requests
    and bad ones (per minute, or in total), unpivoted to rows ``(k, [minute,] total,
    bad)``: ten SLOs over one service cost one index range scan, not ten."""
    cols, values = [], []
    for i, slo in enumerate(slos):
        where, bad = _source(slo, params)
        cols.append(
            f"count(*) FILTER (WHERE {where}) AS t{i},"
            f" count(*) FILTER (WHERE {where} AND {bad}) AS b{i}"
        )
        values.append(f"({params.add(slo.key())}::text, s.t{i}, s.b{i})")
    etype = params.add(ApiRequest.event_type)
    minute = f"date_bin(INTERVAL '1 minute', \"timestamp\", {BUCKET_ORIGIN_SQL})"
    return (
        f"SELECT v.k{', s.minute' if per_minute else ''}, v.total, v.bad FROM"
        f" (SELECT {minute + ' AS minute, ' if per_minute else ''}{', '.join(cols)}"
        f" FROM {EVENTS_TABLE} WHERE event_type = {etype}"
        f' AND "timestamp" >= {lo}::timestamptz AND "timestamp" < {hi}::timestamptz'
        f"{' GROUP BY 1' if per_minute else ''}) AS s"
        f" CROSS JOIN LATERAL (VALUES {', '.join(values)}) AS v(k, total, bad)"
    )


async def refresh(conn: Any, slo: Slo, at: _dt.datetime) -> None:
    """:func:`refresh_all` of one SLO."""
    await refresh_all(conn, [slo], at)


async def window_counts(
    conn: Any, slo: Slo, at: _dt.datetime, windows: Sequence[_dt.timedelta]
) -> dict[_dt.timedelta, Counts]:
    """:func:`window_counts_all` of one SLO."""
    return (await window_counts_all(conn, [slo], at, windows))[slo.key()]


async def refresh_all(conn: Any, slos: Sequence[Slo], at: _dt.datetime) -> None:
    """Bring every SLO's minutes up to ``floor(at)`` (module docstring), in the caller's
    transaction (a crash leaves the previous complete state). Four statements whatever
    the number of SLOs: their state, one recomputation of every SLO's stale minutes from
    raw rows, their new state, the minutes no window reaches any more."""
    if not slos:
        return
    hi = floor_minute(at)
    keys = [s.key() for s in slos]
    rows = await conn.fetch(
        f"SELECT rule_key, filled_from, complete_to FROM {ALERT_ROLLUPS_TABLE}"
        " WHERE rule_key = ANY($1::text[]) ORDER BY rule_key FOR UPDATE",
        keys,
    )
    state = {r["rule_key"]: r for r in rows}
    spans: list[tuple[Slo, _dt.datetime]] = []
    oldest: list[_dt.datetime] = []
    for slo in slos:
        old = hi - kept(slo)
        oldest.append(old)
        row = state.get(slo.key())
        if row is None or row["filled_from"] > old:
            lo = old
        else:
            lo = max(min(row["complete_to"], hi) - LATE, old)
        if lo < hi:
            spans.append((slo, lo))
    if spans:
        await _recompute(conn, spans, hi)
    await conn.execute(
        f"INSERT INTO {ALERT_ROLLUPS_TABLE} AS r"
        " (rule_key, rule, objective, window_s, filled_from, complete_to)"
        " SELECT k, n, o, w, f, $6 FROM unnest($1::text[], $2::text[], $3::float8[],"
        " $4::bigint[], $5::timestamptz[]) AS u(k, n, o, w, f)"
        " ON CONFLICT (rule_key) DO UPDATE SET"
        " objective = EXCLUDED.objective, window_s = EXCLUDED.window_s,"
        " filled_from = EXCLUDED.filled_from, complete_to = EXCLUDED.complete_to",
        keys,
        [s.name for s in slos],
        [s.objective for s in slos],
        [int(s.window.total_seconds()) for s in slos],
        oldest,
        hi,
    )
    # Minutes no window reaches any more: what is kept is [oldest, hi). Only the minutes
    # that fell out since the last evaluation: a range per definition, an index scan.
    params = _exec.Params()
    ranges = []
    for slo, old in zip(slos, oldest, strict=True):
        row = state.get(slo.key())
        if row is not None and row["filled_from"] < old:
            key, first = params.add(slo.key()), params.add(row["filled_from"])
            ranges.append(
                f"(rule_key = {key} AND minute >= {first} AND minute < {params.add(old)})"
            )
    if ranges:
        await conn.execute(
            f"DELETE FROM {ALERT_MINUTES_TABLE} WHERE {' OR '.join(ranges)}", *params.values
        )


async def _recompute(
    conn: Any, spans: Sequence[tuple[Slo, _dt.datetime]], hi: _dt.datetime
) -> None:
    """Minutes ``[lo, hi)`` of each ``(slo, lo)`` from raw rows (one scan per distinct
    ``lo``: normally one), replacing what the spans held."""
    params = _exec.Params(hi)
    by_lo: dict[_dt.datetime, list[Slo]] = {}
    for slo, lo in spans:
        by_lo.setdefault(lo, []).append(slo)
    parts = [
        _counts_sql(group, params, params.add(lo), "$1", per_minute=True)
        for lo, group in by_lo.items()
    ]
    # The spans' old minutes go first (one range per definition), then the fresh ones are
    # inserted with their running sums, continued from the last minute before each span.
    ranges = _exec.Params(hi)
    await conn.execute(
        f"DELETE FROM {ALERT_MINUTES_TABLE} WHERE minute < $1 AND ("
        + " OR ".join(
            f"(rule_key = {ranges.add(slo.key())} AND minute >= {ranges.add(lo)})"
            for slo, lo in spans
        )
        + ")",
        *ranges.values,
    )
    spans_sql = " UNION ALL ".join(
        f"SELECT {params.add(slo.key())}::text, {params.add(lo)}::timestamptz" for slo, lo in spans
    )
    await conn.execute(
        f"WITH fresh AS (SELECT * FROM ({' UNION ALL '.join(parts)}) AS x WHERE total > 0),"
        f" spans(k, lo) AS ({spans_sql}),"
        " base AS (SELECT spans.k, coalesce(b.cum_total, 0) AS ct, coalesce(b.cum_bad, 0) AS cb"
        " FROM spans LEFT JOIN LATERAL (SELECT cum_total, cum_bad"
        f" FROM {ALERT_MINUTES_TABLE} m WHERE m.rule_key = spans.k AND m.minute < spans.lo"
        " ORDER BY m.minute DESC LIMIT 1) AS b ON TRUE)"
        f" INSERT INTO {ALERT_MINUTES_TABLE} (rule_key, minute, total, bad, cum_total, cum_bad)"
        " SELECT f.k, f.minute, f.total, f.bad,"
        " base.ct + sum(f.total) OVER w, base.cb + sum(f.bad) OVER w"
        " FROM fresh f JOIN base ON base.k = f.k"
        " WINDOW w AS (PARTITION BY f.k ORDER BY f.minute)",
        *params.values,
    )


async def window_counts_all(
    conn: Any, slos: Sequence[Slo], at: _dt.datetime, windows: Sequence[_dt.timedelta]
) -> dict[str, dict[_dt.timedelta, Counts]]:
    """Requests and bad requests of each SLO (by key) in each window as of ``at`` (the
    rollup must be current: :func:`refresh_all`). One statement over the rollup, one over
    raw rows of the running minute (none when ``at`` is minute-aligned)."""
    hi = floor_minute(at)
    keys = [s.key() for s in slos]
    rows = await _exec.fetch(
        conn, "alerts.window_counts", WINDOW_SQL, keys, [hi - w for w in windows], hi
    )
    summed = {(r["k"], r["i"] - 1): r for r in rows}
    running: dict[str, Counts] = {}
    if at > hi and slos:
        params = _exec.Params(hi, at)
        sql = _counts_sql(slos, params, "$1", "$2", per_minute=False)
        for r in await _exec.fetch(conn, "alerts.running_minute", sql, *params.values):
            running[r["k"]] = Counts(int(r["total"]), int(r["bad"]))
    out: dict[str, dict[_dt.timedelta, Counts]] = {}
    for key in keys:
        extra = running.get(key, Counts(0, 0))
        out[key] = {}
        for i, w in enumerate(windows):
            found = summed.get((key, i))
            total = bad = 0
            if found is not None and found["ft"] is not None:
                total, bad = found["lt"] - found["ft"], found["lb"] - found["fb"]
            out[key][w] = Counts(int(total) + extra.total, int(bad) + extra.bad)
    return out
