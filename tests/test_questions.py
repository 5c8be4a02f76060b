"""Slowest endpoints, the overview and event-type trends (read/questions.py, migrations
0007 and 0008) against recomputations from the raw rows, on both tiers."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from typing import Any, ClassVar

import asyncpg
import httpx

import lib_analytics_core as lac
from lib_analytics_core.api import create_app
from lib_analytics_core.read import histogram as h
from tests import _aggregate_reference as ref

DAY = dt.timedelta(days=1)
ORIGIN = "TIMESTAMPTZ '2000-01-03 00:00:00+00'"
TOKEN = "test-token-0123456789abcdef"


class InvoicePaid(lac.Event):
    """A service's own event class: defined here, unknown to the library."""

    event_type: ClassVar[str] = "invoice_paid_test"
    amount_cents: int
    user_id: uuid.UUID | None = None


async def _write_custom(dsn: str, now: dt.datetime) -> list[tuple[dt.datetime, uuid.UUID | None]]:
    users = [uuid.UUID(int=i + 1) for i in range(5)]
    client, cfg = lac.AnalyticsClient.new(
        batch_size=50, flush_interval_secs=0.1, service_name="billing"
    )
    worker = lac.AnalyticsWorker(cfg, dsn)
    import asyncio

    task = asyncio.create_task(worker.run())
    written: list[tuple[dt.datetime, uuid.UUID | None]] = []
    for i in range(60):
        when = now - dt.timedelta(hours=i * 7)
        user = users[i % 5] if i % 4 else None
        client.track_at(InvoicePaid(amount_cents=100 + i, user_id=user), when)
        written.append((when, user))
    report = await worker.shutdown(timeout=60)
    await task
    assert report.lost == 0
    return written


async def _trends_match_raw(conn: asyncpg.Connection, start: dt.datetime, end: dt.datetime) -> None:
    for gran, table in (("hour", "1 hour"), ("day", "1 day")):
        got = await lac.event_trends(conn, start, end, granularity=gran, limit=100_000)  # type: ignore[arg-type]
        raw = await conn.fetch(
            f"SELECT date_bin(INTERVAL '{table}', \"timestamp\", {ORIGIN}) AS b,"
            " event_type, service, count(*) AS n, count(DISTINCT user_id) AS u"
            ' FROM analytics_events WHERE "timestamp" >= $1 AND "timestamp" < $2'
            " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
            start,
            end,
        )
        assert [(r.bucket, r.event_type, r.service, r.events, r.users) for r in got] == [
            tuple(r) for r in raw
        ]
        assert any(r.event_type == "invoice_paid_test" for r in got)
    assert "invoice_paid_test" in await lac.list_event_types(conn, since=start)


async def test_event_trends_equal_raw_with_a_custom_event_partitioned(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        now: dt.datetime = await conn.fetchval("SELECT now()")
        await ref.insert(conn, ref.generate(now, days=10, n=800, seed=3))
        written = await _write_custom(database_url, now)
        start = ref._day(now) - 20 * DAY
        await lac.refresh_aggregates(conn, start=start)
        await _trends_match_raw(conn, start, ref._day(now) + DAY)
        one = await lac.event_trends(
            conn, start, ref._day(now) + DAY, event_type="invoice_paid_test", service="billing"
        )
        assert sum(r.events for r in one) == len(written)
    finally:
        await conn.close()


async def test_event_trends_equal_raw_with_a_custom_event_timescale(timescale_url: str) -> None:
    conn = await asyncpg.connect(timescale_url, statement_cache_size=0)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        assert await lac.detect_server_kind(conn) is lac.ServerKind.TIMESCALEDB
        await lac.migrate(conn)
        caggs = await conn.fetchval(
            "SELECT count(*) FROM timescaledb_information.continuous_aggregates"
            " WHERE view_name LIKE 'analytics_event_trends_%'"
        )
        assert caggs == 2
        now: dt.datetime = await conn.fetchval("SELECT now()")
        await ref.insert(conn, ref.generate(now, days=5, n=300, seed=4))
    finally:
        await conn.close()
    await _write_custom(timescale_url, now)
    conn = await asyncpg.connect(timescale_url, statement_cache_size=0)
    try:
        start = ref._day(now) - 20 * DAY
        await lac.refresh_aggregates(conn, start=start)
        await _trends_match_raw(conn, start, ref._day(now) + DAY)
    finally:
        await conn.close()


def _merged(rows: list[asyncpg.Record]) -> dict[tuple[str, str, str], list[int | None]]:
    acc: dict[tuple[str, str, str], list[tuple[Any, Any]]] = defaultdict(list)
    for r in rows:
        acc[(r["service"], r["endpoint"], r["method"])].append((r["hist_keys"], r["hist_counts"]))
    return {g: h.percentile_keys(*h.merge(p), (0.5, 0.95, 0.99)) for g, p in acc.items()}


async def test_top_endpoints_and_totals_equal_merging_every_bucket(db: asyncpg.Connection) -> None:
    """The running distributions give the same percentile keys as merging the hourly
    histograms of every bucket in the range: whole days, edge hours, and both."""
    now: dt.datetime = await db.fetchval("SELECT now()")
    await ref.insert(db, ref.generate(now, days=12, n=2500, seed=11))
    day0 = ref._day(now)
    await lac.refresh_aggregates(db, start=day0 - 20 * DAY)
    for lo, hi in (
        (day0 - 10 * DAY, day0 + DAY),
        (day0 - 9 * DAY + dt.timedelta(hours=5), day0 - dt.timedelta(hours=3)),
        (day0 - 3 * DAY + dt.timedelta(hours=2), day0 - 3 * DAY + dt.timedelta(hours=9)),
    ):
        want = _merged(
            await db.fetch(
                "SELECT service, endpoint, method, hist_keys, hist_counts"
                " FROM analytics_api_hour_endpoint WHERE bucket >= $1 AND bucket < $2",
                lo,
                hi,
            )
        )
        got = await lac.api_latency(
            db, start=lo, end=hi, granularity="total", group_by="endpoint", limit=100_000
        )
        assert {(r.service, r.endpoint, r.method) for r in got} == set(want)
        for r in got:
            keys = want[(r.service or "", r.endpoint or "", r.method or "")]
            # capped at the observed maximum, as every reported estimate is (issue 20)
            cap = r.max_ms if r.max_ms is not None else float("inf")
            rep = [None if k is None else min(h.representative(k), cap) for k in keys]
            assert [r.p50_ms, r.p95_ms, r.p99_ms] == rep
        for by in ("p95", "p99", "error_rate", "requests"):
            top = await lac.top_endpoints(db, lo, hi, by=by, limit=5)
            field = {"p95": "p95_ms", "p99": "p99_ms"}.get(by, by)
            values = [getattr(r, field) or 0 for r in got]
            assert [getattr(r, field) or 0 for r in top] == sorted(values, reverse=True)[:5]


async def test_overview_and_routes(db: asyncpg.Connection, database_url: str) -> None:
    now: dt.datetime = await db.fetchval("SELECT now()")
    await ref.insert(db, ref.generate(now, days=8, n=1500, seed=12))
    day0 = ref._day(now)
    await lac.refresh_aggregates(db, start=day0 - 20 * DAY)
    ov = await lac.overview(db, day0 - 6 * DAY, day0 + DAY, now=now)
    assert ov.dau_day == day0 - DAY  # the last whole day inside the range
    dau = await db.fetchval(
        "SELECT count(DISTINCT user_id) FROM analytics_events"
        ' WHERE "timestamp" >= $1 AND "timestamp" < $2',
        day0 - DAY,
        day0,
    )
    assert ov.dau == dau
    total = await lac.api_latency(
        db, start=day0 - 6 * DAY, end=day0 + DAY, granularity="total", group_by="total"
    )
    assert (ov.requests, ov.p95_ms, ov.error_rate) == (
        total[0].requests,
        total[0].p95_ms,
        total[0].error_rate,
    )
    today_only = await lac.overview(db, day0, day0 + DAY, now=now)
    assert today_only.dau_day == day0

    app = create_app(database_url, TOKEN)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
            auth = {"Authorization": f"Bearer {TOKEN}"}
            for path in (
                "/v1/endpoints/top",
                "/v1/overview",
                "/v1/events/trends",
                "/v1/events/types",
            ):
                assert (await c.get(path)).status_code == 401
                assert (await c.get(path, headers=auth)).status_code == 200, path
            body = (
                await c.get("/v1/endpoints/top", params={"by": "requests"}, headers=auth)
            ).json()
            assert set(body) == {"start", "end", "rows"} and body["rows"][0]["bucket"] is None
            counts = [r["requests"] for r in body["rows"]]
            assert counts == sorted(counts, reverse=True) and len(counts) <= 10
            o = (await c.get("/v1/overview", headers=auth)).json()
            assert set(o) == {
                "start",
                "end",
                "dau",
                "dau_day",
                "wau",
                "mau",
                "requests",
                "p95_ms",
                "error_rate",
                "task_success_rate",
            }
            bad = await c.get("/v1/endpoints/top", params={"by": "nope"}, headers=auth)
            assert bad.status_code == 422


async def test_overview_service_filter_narrows_the_api_cards_only(
    db: asyncpg.Connection,
) -> None:
    """The dashboard's service filter reaches the KPI cards that have a service (issue
    29 item 5): requests, p95 and error rate are that service's; users and tasks, which
    have none, stay the whole platform's, and the previous period is filtered alike."""
    now: dt.datetime = await db.fetchval("SELECT now()")
    await ref.insert(db, ref.generate(now, days=8, n=1500, seed=13))
    day0 = ref._day(now)
    await lac.refresh_aggregates(db, start=day0 - 20 * DAY)
    lo, hi = day0 - 3 * DAY, day0 + DAY
    from lib_analytics_core.read.overview import overview, overview_comparison

    everyone = await overview(db, start=lo, end=hi, now=now)
    services = await db.fetch(
        "SELECT DISTINCT service FROM analytics_events WHERE event_type = 'api_request'"
    )
    assert len(services) >= 2
    for (svc,) in services:
        mine = await overview(db, start=lo, end=hi, now=now, service=svc)
        total = await lac.api_latency(
            db, start=lo, end=hi, granularity="total", group_by="total", service=svc
        )
        assert (mine.requests, mine.p95_ms, mine.error_rate) == (
            total[0].requests,
            total[0].p95_ms,
            total[0].error_rate,
        )
        assert mine.requests < everyone.requests
        assert (mine.dau, mine.wau, mine.mau, mine.task_success_rate) == (
            everyone.dau,
            everyone.wau,
            everyone.mau,
            everyone.task_success_rate,
        )
        both = await overview_comparison(db, start=lo, end=hi, now=now, service=svc)
        assert both.current == mine and both.previous is not None
        before = await lac.api_latency(
            db, start=lo - 4 * DAY, end=lo, granularity="total", group_by="total", service=svc
        )
        assert both.previous.requests == (before[0].requests if before else 0)


async def test_series_values_computed_in_sql_equal_pythons(db: asyncpg.Connection) -> None:
    """The precomputed series compute rates, averages and percentile values in SQL: bit
    for bit what the Python of histogram.representative and plain division give."""
    from lib_analytics_core.read.latency import _value_sql

    sql = f"SELECT k, {_value_sql('k')} AS v FROM unnest($1::smallint[]) AS t(k)"
    keys = [h.ZERO_KEY, *range(h.MIN_KEY - 3, h.MAX_KEY + 4)]
    for r in await db.fetch(sql, keys):
        assert r["v"] == h.representative(r["k"]), r["k"]
    now: dt.datetime = await db.fetchval("SELECT now()")
    await ref.insert(db, ref.generate(now, days=4, n=1200, seed=21))
    day0 = ref._day(now)
    await lac.refresh_aggregates(db, start=day0 - 6 * DAY)
    got = await lac.api_latency(
        db, start=day0 - 4 * DAY, end=day0 + DAY, granularity="hour", group_by="endpoint"
    )
    stored = await db.fetch(
        "SELECT * FROM analytics_api_hour_endpoint WHERE bucket >= $1 AND bucket < $2"
        " ORDER BY bucket, service, endpoint, method",
        day0 - 4 * DAY,
        day0 + DAY,
    )
    assert len(got) == len(stored) > 0
    rep = h.representative
    for g, s in zip(got, stored, strict=True):
        n, req = s["duration_count"], s["requests"]
        assert (g.bucket, g.service, g.endpoint, g.method) == (
            s["bucket"],
            s["service"],
            s["endpoint"],
            s["method"],
        )
        assert g.error_rate == ((s["errors_4xx"] + s["errors_5xx"]) / req if req else None)
        assert g.avg_ms == (s["duration_sum_ms"] / n if n else None)
        dmax = s["duration_max_ms"]
        cap = float("inf") if dmax is None else round(dmax)  # capped at max_ms (issue 20)
        for value, key in ((g.p50_ms, "p50_key"), (g.p95_ms, "p95_key"), (g.p99_ms, "p99_key")):
            assert value == (None if s[key] is None else min(rep(s[key]), cap))
        assert g.max_ms == (None if dmax is None else round(dmax))
        assert type(g.max_ms) in (int, type(None))


async def test_percentile_cap_in_sql_equals_pythons(db: asyncpg.Connection) -> None:
    """The series cap their percentiles at max_ms in SQL (latency._capped_sql): the same
    float as _common._capped of Python's rounding, halves (half-to-even) and NULLs
    included."""
    from lib_analytics_core.read._common import _capped, _max_ms
    from lib_analytics_core.read.latency import _capped_sql

    maxima = [None, 0.0, 0.5, 1.5, 2.5, 100.49, 100.5, 101.5, 374.0, 375.5, 1e9 + 0.5]
    values = [None, 0.0, 0.4, 1.0, 2.0, 100.0, 100.6, 101.9, 376.21, 375.5, 2e9]
    sql = (
        f"SELECT v, duration_max_ms, {_capped_sql('v', 'v')} AS c"
        " FROM unnest($1::float8[]) AS a(v), unnest($2::float8[]) AS b(duration_max_ms)"
    )
    rows = await db.fetch(sql, values, maxima)
    assert len(rows) == len(values) * len(maxima)
    for r in rows:
        want = _capped(r["v"], _max_ms(r["duration_max_ms"]))
        assert r["c"] == want and type(r["c"]) is type(want), dict(r)
