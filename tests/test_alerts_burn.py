"""The burn-rate arithmetic and the SLO window counts against plain references.

* :func:`decide` against the workbook table as the issue writes it, evaluated with
  decimals over generated counts;
* the per-minute rollup (incremental refreshes at generated times, in any order, some
  not on a minute) against counting the generated events one by one under the
  definition of alerts/rollup.py: a window ``w`` as of ``at`` holds the events with
  ``floor_minute(at) - w <= timestamp < at``.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal

import asyncpg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lib_analytics_core.alerts import parse_config
from lib_analytics_core.alerts.burn import WINDOWS, Counts, burn_rate, decide
from lib_analytics_core.alerts.rollup import refresh, window_counts

UTC = dt.UTC
MIN = dt.timedelta(minutes=1)
# The table (workbook table 5-8), written down again rather than imported.
TABLE = [("page", "14.4", 60, 5), ("page", "6", 360, 30), ("ticket", "1", 4320, 360)]


def reference_decision(counts: dict[int, tuple[int, int]], objective: float) -> str | None:
    budget = 1 - Decimal(str(objective))
    for severity, rate, long_m, short_m in TABLE:
        fires = True
        for m in (long_m, short_m):
            total, bad = counts[m]
            fires &= total > 0 and Decimal(bad) / Decimal(total) / budget > Decimal(rate)
        if fires:
            return severity
    return None


counts_st = st.integers(0, 10_000).flatmap(lambda t: st.tuples(st.just(t), st.integers(0, t)))


@given(
    st.fixed_dictionaries({int(w.total_seconds() // 60): counts_st for w in WINDOWS}),
    st.sampled_from([0.9, 0.99, 0.995, 0.999, 0.9999]),
)
def test_decide_matches_the_workbook_table(
    counts: dict[int, tuple[int, int]], objective: float
) -> None:
    by_window = {dt.timedelta(minutes=m): Counts(t, b) for m, (t, b) in counts.items()}
    severity, pair = decide(by_window, objective)
    assert severity == reference_decision(counts, objective)
    if pair is not None:
        assert burn_rate(by_window[pair.long], objective) > pair.rate * (1 - 1e-9)


def test_boundary_burn_is_not_an_alert() -> None:
    # exactly 14.4x in both windows: the workbook's ">" does not fire
    c = Counts(1000, 72)  # 7.2 % of bad = 14.4 x 0.5 %
    assert burn_rate(c, 0.995) == 14.4
    assert decide(dict.fromkeys(WINDOWS, c), 0.995)[0] == "page"  # 6x pair still fires
    just = {w: Counts(1000, 5) for w in WINDOWS}  # 1x exactly everywhere
    assert decide(just, 0.995) == (None, None)


CONFIG = parse_config(
    """
[[slo]]
name = "a-availability"
service = "a"
kind = "availability"
objective = 0.99
window = "7d"

[[slo]]
name = "x-latency"
endpoint = "/x"
method = "GET"
kind = "latency"
threshold_ms = 100
objective = 0.9
window = "1d"
"""
)
BASE = dt.datetime(2026, 10, 10, tzinfo=UTC)
event_st = st.tuples(
    st.one_of(st.integers(0, 900), st.integers(0, 4 * 86400)),  # seconds before BASE
    st.sampled_from(["a", "b"]),
    st.sampled_from(["/x", "/y"]),
    st.sampled_from(["GET", "POST"]),
    st.sampled_from([200, 404, 499, 500, 503]),
    st.sampled_from([1, 100, 101, 5000]),
)
at_st = st.integers(-900, 900).map(lambda s: BASE + dt.timedelta(seconds=s))


def _reference(
    events: list[tuple[dt.datetime, str, str, str, int, int]],
    name: str,
    at: dt.datetime,
    w: dt.timedelta,
) -> Counts:
    lo = at.replace(second=0, microsecond=0) - w
    total = bad = 0
    for t, service, endpoint, method, status, duration in events:
        if not lo <= t < at:
            continue
        if name == "a-availability":
            if service != "a":
                continue
            total += 1
            bad += status >= 500
        else:
            if endpoint != "/x" or method != "GET":
                continue
            total += 1
            bad += duration > 100
    return Counts(total, bad)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(event_st, max_size=60), st.lists(at_st, min_size=1, max_size=5))
async def test_window_counts_match_counting_the_events(
    db: asyncpg.Connection,
    raw: list[tuple[int, str, str, str, int, int]],
    ats: list[dt.datetime],
) -> None:
    await db.execute(
        "DELETE FROM analytics_events; DELETE FROM analytics_alert_minutes;"
        " DELETE FROM analytics_alert_rollups"
    )
    events = [(BASE - dt.timedelta(seconds=s), a, b, c, d, e) for s, a, b, c, d, e in raw]
    await db.executemany(
        'INSERT INTO analytics_events ("timestamp", event_id, event_type, service, data)'
        " VALUES ($1, $2, 'api_request', $3, $4::jsonb)",
        [
            (
                t,
                uuid.uuid4(),
                svc,
                json.dumps({"endpoint": ep, "method": me, "status_code": st_, "duration_ms": d}),
            )
            for t, svc, ep, me, st_, d in events
        ],
    )
    for at in ats:
        for slo in CONFIG.slos:
            async with db.transaction():
                await refresh(db, slo, at)
            got = await window_counts(db, slo, at, WINDOWS)
            for w in WINDOWS:
                assert got[w] == _reference(events, slo.name, at, w), (slo.name, at, w)


async def test_late_events_within_LATE_are_counted_older_ones_are_not(
    db: asyncpg.Connection,
) -> None:
    # The documented limit (alerts/rollup.py): each evaluation recomputes the minutes
    # since the previous one plus LATE (2 min) from raw rows.
    (slo,) = [s for s in CONFIG.slos if s.name == "a-availability"]
    insert = (
        'INSERT INTO analytics_events ("timestamp", event_id, event_type, service, data)'
        " VALUES ($1, $2, 'api_request', 'a', '{\"status_code\": 503}')"
    )
    await db.execute(insert, BASE - MIN, uuid.uuid4())
    async with db.transaction():
        await refresh(db, slo, BASE + 10 * MIN)
    await db.execute(insert, BASE + 9 * MIN, uuid.uuid4())  # 1 min late: counted
    await db.execute(insert, BASE + 5 * MIN, uuid.uuid4())  # 5 min late: not counted
    async with db.transaction():
        await refresh(db, slo, BASE + 11 * MIN)
    got = await window_counts(db, slo, BASE + 11 * MIN, WINDOWS)
    assert got[dt.timedelta(minutes=5)] == Counts(1, 1)
    assert got[dt.timedelta(minutes=30)] == Counts(2, 2)
