"""Running counts and range maxima of migration 0009 against recomputations from raw.

A latency ``total`` (``api_latency(granularity="total")``, ``top_endpoints``, the
overview) reads its counts as the difference of two running rows per group and its
maximum from the running rows' sparse tables (``max_fwd``/``max_bwd``): two probes per
group whatever the range. These tests check the stored running rows against the daily
rollups they summarise, and every count and maximum of the answers against the raw
events, over whole-day and partial ranges of many lengths, for groups with gaps and
groups without any usable duration, on both tiers and after an upgrade from 0008.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import asyncpg
import pytest

import lib_analytics_core as lac
from lib_analytics_core.schema import migrate as m
from tests import _aggregate_reference as ref

DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
LEVELS = {
    "total": (),
    "service": ("service",),
    "endpoint": ("service", "endpoint", "method"),
}
COUNTS = ("requests", "errors_4xx", "errors_5xx", "duration_count")
FLOATS = ("requests_estimated", "duration_sum_ms")


def _extra(now: dt.datetime) -> list[ref.Event]:
    """Groups the generator does not make: one with gaps (a few scattered days), one
    without any usable duration (missing or a string), one with a single request."""
    day0 = ref._day(now)
    out: list[ref.Event] = []

    def api(ts: dt.datetime, endpoint: str, duration: Any, status: int = 200) -> None:
        data: dict[str, Any] = {
            "service": "gaps",
            "method": "GET",
            "endpoint": endpoint,
            "status_code": status,
            "_meta": {"host": "h1"},
        }
        if duration is not None:
            data["duration_ms"] = duration
        out.append((ts, uuid.uuid4(), "api_request", "gaps", None, data))

    for i, back in enumerate((12, 9, 8, 3, 1)):
        for j in range(3):
            api(day0 - back * DAY + (5 + j) * HOUR, "/gappy", 10.0 * (i + 1) + j, 500 if j else 200)
    for back in (7, 2):
        api(day0 - back * DAY + 2 * HOUR, "/nodur", None, 404)
        api(day0 - back * DAY + 3 * HOUR, "/nodur", "slow")
    api(day0 - 5 * DAY + 23 * HOUR, "/once", 123456.5)
    return out


async def _seed(conn: asyncpg.Connection) -> dt.datetime:
    now: dt.datetime = await conn.fetchval("SELECT now()")
    await ref.insert(conn, ref.generate(now, days=13, n=2500, seed=31) + _extra(now))
    await lac.refresh_aggregates(conn, start=ref._day(now) - 20 * DAY)
    return ref._day(now)


async def _check_running_rows(conn: asyncpg.Connection) -> None:
    """Each running row holds the prefix sums of its group's daily rows up to its day,
    and the maxima of its group's daily rows in the 2^j days from / up to its day."""
    for level, dims in LEVELS.items():
        sel = "".join(f"{d}, " for d in dims)
        daily = await conn.fetch(
            f"SELECT {sel}bucket, {', '.join(COUNTS + FLOATS)}, duration_max_ms"
            f" FROM analytics_api_day_{level} ORDER BY {sel}bucket"
        )
        running = await conn.fetch(
            f"SELECT {sel}bucket, {', '.join(COUNTS + FLOATS)}, max_fwd, max_bwd"
            f" FROM analytics_cum_api_{level} ORDER BY {sel}bucket"
        )
        # one running row per daily row: groups without durations included
        assert [tuple(r[d] for d in (*dims, "bucket")) for r in running] == [
            tuple(r[d] for d in (*dims, "bucket")) for r in daily
        ], level
        groups: dict[tuple[Any, ...], list[asyncpg.Record]] = {}
        for r in daily:
            groups.setdefault(tuple(r[d] for d in dims), []).append(r)
        for run in running:
            rows = groups[tuple(run[d] for d in dims)]
            upto = [r for r in rows if r["bucket"] <= run["bucket"]]
            for c in COUNTS:
                assert run[c] == sum(r[c] for r in upto), (level, c)
            for c in FLOATS:
                assert run[c] == pytest.approx(sum(r[c] for r in upto), rel=1e-12), (level, c)
            assert len(run["max_fwd"]) == len(run["max_bwd"]) == 10
            for j in range(10):
                span = (2**j - 1) * DAY
                ahead = [
                    r["duration_max_ms"]
                    for r in rows
                    if run["bucket"] <= r["bucket"] <= run["bucket"] + span
                    and r["duration_max_ms"] is not None
                ]
                behind = [
                    r["duration_max_ms"]
                    for r in rows
                    if run["bucket"] - span <= r["bucket"] <= run["bucket"]
                    and r["duration_max_ms"] is not None
                ]
                assert run["max_fwd"][j] == (max(ahead) if ahead else None), (level, j)
                assert run["max_bwd"][j] == (max(behind) if behind else None), (level, j)


_RAW_SQL = """
SELECT {sel}count(*) AS requests,
       sum(1.0::float8 / coalesce(nullif(
           analytics_json_number(data->'_meta'->'sample_rate', 0, 1)::float8, 0), 1))
           AS requests_estimated,
       count(*) FILTER (WHERE analytics_json_number(data->'status_code', 400, 499) IS NOT NULL)
           AS errors_4xx,
       count(*) FILTER (WHERE analytics_json_number(data->'status_code', 500, 599) IS NOT NULL)
           AS errors_5xx,
       count(analytics_json_duration(data->'duration_ms')) AS duration_count,
       sum(analytics_json_duration(data->'duration_ms'))::float8 AS duration_sum_ms,
       max(analytics_json_duration(data->'duration_ms'))::float8 AS duration_max_ms
FROM (SELECT service::text AS service, coalesce(data->>'endpoint', '') AS endpoint,
             coalesce(data->>'method', '') AS method, data
      FROM analytics_events
      WHERE event_type = 'api_request' AND "timestamp" >= $1 AND "timestamp" < $2) e
WHERE {filt}
{group}
"""


async def _check_totals(conn: asyncpg.Connection, day0: dt.datetime) -> int:
    """Every count and maximum of every ``total`` answer equals the raw recomputation."""
    ranges = [(day0 - n * DAY, day0 + DAY) for n in (0, 1, 2, 3, 4, 6, 7, 8, 12, 15, 30)]
    ranges += [
        (day0 - 12 * DAY, day0 - 8 * DAY),  # ends on a gap day of /gappy
        (day0 - 11 * DAY, day0 - 4 * DAY),  # starts and ends inside its gaps
        (day0 - 6 * DAY, day0 - 5 * DAY),
        (day0 - 9 * DAY + 5 * HOUR, day0 - 2 * HOUR),  # partial days at both ends
        (day0 - 8 * DAY + 6 * HOUR, day0 - 7 * DAY + 20 * HOUR),
        (day0 - 5 * DAY + 22 * HOUR, day0 - 4 * DAY),
        (day0 - 3 * DAY + 2 * HOUR, day0 - 3 * DAY + 9 * HOUR),  # no whole day
    ]
    questions: list[tuple[str, dict[str, str]]] = [
        ("endpoint", {}),
        ("service", {}),
        ("total", {}),
        ("total", {"service": "gaps"}),
        ("endpoint", {"endpoint": "/gappy"}),
        ("service", {"method": "GET"}),
    ]
    checked = 0
    for lo, hi in ranges:
        for group_by, filters in questions:
            got = await lac.api_latency(
                conn,
                start=lo,
                end=hi,
                granularity="total",
                group_by=group_by,  # type: ignore[arg-type]
                limit=100_000,
                **filters,
            )
            dims = LEVELS[group_by]
            sel = "".join(f"{d}, " for d in dims)
            filt = " AND ".join(f"{c} = '{v}'" for c, v in filters.items()) or "TRUE"
            group = f"GROUP BY {', '.join(dims)} ORDER BY {', '.join(dims)}" if dims else ""
            raw = [
                r
                for r in await conn.fetch(_RAW_SQL.format(sel=sel, filt=filt, group=group), lo, hi)
                if r["requests"]
            ]
            where = (lo, hi, group_by, filters)
            assert [tuple(getattr(g, d) for d in dims) for g in got] == [
                tuple(r[d] for d in dims) for r in raw
            ], where
            for g, r in zip(got, raw, strict=True):
                assert (g.requests, g.errors_4xx, g.errors_5xx) == (
                    r["requests"],
                    r["errors_4xx"],
                    r["errors_5xx"],
                ), where
                assert g.requests_estimated == pytest.approx(r["requests_estimated"], rel=1e-12)
                n = r["duration_count"]
                if n:
                    assert g.avg_ms == pytest.approx(r["duration_sum_ms"] / n, rel=1e-9), where
                else:
                    assert g.avg_ms is None, where
                dmax = r["duration_max_ms"]
                assert g.max_ms == (None if dmax is None else round(dmax)), where
                for p in (g.p50_ms, g.p95_ms, g.p99_ms):  # never above the observed maximum
                    assert p is None or (g.max_ms is not None and p <= g.max_ms), where
                checked += 1
    return checked


async def test_running_counts_and_maxima_equal_raw_postgresql(db: asyncpg.Connection) -> None:
    day0 = await _seed(db)
    await _check_running_rows(db)
    assert await _check_totals(db, day0) > 200


@pytest.mark.timescale
async def test_running_counts_and_maxima_equal_raw_timescaledb(timescale_url: str) -> None:
    conn = await asyncpg.connect(timescale_url, statement_cache_size=0)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        await lac.migrate(conn)
        day0 = await _seed(conn)
        await _check_running_rows(conn)
        assert await _check_totals(conn, day0) > 200
    finally:
        await conn.close()


async def test_refresh_of_a_past_day_moves_later_rows(db: asyncpg.Connection) -> None:
    """A backfilled day changes the running counts of every later day and the forward
    maxima of the days before it: the refresh recomputes both."""
    day0 = await _seed(db)
    late = day0 - 10 * DAY + 4 * HOUR
    data = {
        "service": "gaps",
        "method": "GET",
        "endpoint": "/gappy",
        "status_code": 503,
        "duration_ms": 9_999_999,
        "_meta": {"host": "h1"},
    }
    await ref.insert(db, [(late, uuid.uuid4(), "api_request", "gaps", None, data)])
    await lac.refresh_aggregates(db, start=late, end=late + DAY)
    await _check_running_rows(db)
    assert await _check_totals(db, day0) > 200
    top = await lac.api_latency(
        db, start=day0 - 12 * DAY, end=day0, granularity="total", endpoint="/gappy"
    )
    assert top[0].max_ms == 9_999_999


async def _upgrade_from_0008(conn: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    real = m.load_migrations()
    before = [mig for mig in real if mig.version <= 8]
    with monkeypatch.context() as patch:
        patch.setattr(m, "load_migrations", lambda: before)
        assert len((await lac.migrate(conn)).applied) == 8
    day0 = await _seed(conn)
    report = await lac.migrate(conn)
    assert report.applied[0].startswith("0009_")
    await _check_running_rows(conn)  # the backfill filled every existing running row
    assert await _check_totals(conn, day0) > 200


async def test_upgrade_from_0008_backfills_postgresql(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = await asyncpg.connect(empty_database_url)
    try:
        await _upgrade_from_0008(conn, monkeypatch)
    finally:
        await conn.close()


@pytest.mark.timescale
async def test_upgrade_from_0008_backfills_timescaledb(
    timescale_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = await asyncpg.connect(timescale_url, statement_cache_size=0)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        await _upgrade_from_0008(conn, monkeypatch)
    finally:
        await conn.close()
