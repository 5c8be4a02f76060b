"""The typed queries against aggregates refreshed from known events (real PostgreSQL).

Every expected value is computed here from the raw events that were written; latency
and duration percentiles are checked against the true nearest-rank percentile of the
raw durations within the histogram's documented relative error bound.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

import lib_analytics_core as lac
from lib_analytics_core import QueryError, refresh_aggregates
from lib_analytics_core.read import _common as read_common
from lib_analytics_core.read.histogram import RELATIVE_ERROR_BOUND
from tests import _read_seed

UTC = dt.UTC
DAY = dt.timedelta(days=1)
Seeded = tuple[_read_seed.Seeded, "asyncpg.Pool[Any]"]


def nearest_rank(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return float(ordered[max(1, math.ceil(q * len(ordered) - 1e-9)) - 1])


def assert_close(estimate: float | None, values: list[Any], q: float) -> None:
    assert estimate is not None
    true = nearest_rank(values, q)
    assert abs(estimate - true) <= RELATIVE_ERROR_BOUND * true + 1e-9, (estimate, true, q)


def floor_day(t: dt.datetime) -> dt.datetime:
    return t.replace(hour=0, minute=0, second=0, microsecond=0)


@pytest.fixture
async def seeded(database_url: str) -> AsyncIterator[Seeded]:
    d0 = floor_day(dt.datetime.now(UTC)) - dt.timedelta(days=20)
    s = _read_seed.build(d0)
    written = await _read_seed.write(database_url, s)
    assert written == len(s.events)
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    await refresh_aggregates(pool, start=d0 - DAY)
    yield s, pool
    await pool.close()


async def test_active_users_are_exact_distinct_counts(seeded: Seeded) -> None:
    s, pool = seeded
    active: dict[dt.datetime, set[uuid.UUID]] = defaultdict(set)
    for when, event in s.events:
        if event.concerned_user_id is not None:
            active[floor_day(when)].add(event.concerned_user_id)

    def window(day: dt.datetime, days: int) -> int:
        out: set[uuid.UUID] = set()
        for d, us in active.items():
            if day - dt.timedelta(days=days) < d <= day:
                out |= us
        return len(out)

    rows = await lac.active_users(pool, start=s.d0.date(), end=(s.d0 + 12 * DAY).date())
    assert [r.day for r in rows] == [s.d0 + i * DAY for i in range(12)]
    for r in rows:
        assert (r.dau, r.wau, r.mau) == (
            len(active.get(r.day, ())),
            window(r.day, 7),
            window(r.day, 30),
        ), r
    assert rows[9].dau == 3 and rows[9].mau == 6  # day 9: u0, u3 and u5 (login)
    assert all(r.dau <= r.wau <= r.mau for r in rows)


async def test_task_stats_per_day(seeded: Seeded) -> None:
    s, pool = seeded
    rows = await lac.task_stats(pool, start=s.d0, end=s.d0 + 10 * DAY)
    assert len(rows) == 10
    by_day = {r.day: r for r in rows}
    for day in (2, 4):
        d = s.d0 + day * DAY
        evs = [(t, e) for t, e in s.events if floor_day(t) == d]
        kinds = Counter(type(e).__name__ for _, e in evs)
        durations = [
            e.duration_ms
            for _, e in evs
            if isinstance(e, lac.TaskCompleted | lac.TaskFailed) and e.duration_ms is not None
        ]
        r = by_day[d]
        assert (r.created, r.started, r.completed, r.failed, r.cancelled) == (
            kinds["TaskCreated"],
            kinds["TaskStarted"],
            kinds["TaskCompleted"],
            kinds["TaskFailed"],
            kinds["TaskCancelled"],
        )
        assert r.success_rate == pytest.approx(r.completed / (r.completed + r.failed))
        assert r.duration_count == len(durations)
        assert r.avg_duration_ms == pytest.approx(sum(durations) / len(durations))
        assert r.max_duration_ms == max(durations)
        assert_close(r.p95_duration_ms, durations, 0.95)
        assert_close(r.p50_duration_ms, durations, 0.50)
    empty = by_day[s.d0]
    assert empty.created == 0 and empty.success_rate is None and empty.p95_duration_ms is None


def _api(s: _read_seed.Seeded) -> list[tuple[dt.datetime, lac.ApiRequest]]:
    return [(t, e) for t, e in s.of(lac.ApiRequest)]  # type: ignore[misc]


@pytest.mark.parametrize("granularity", ["hour", "day"])
async def test_api_latency_by_service(seeded: Seeded, granularity: Any) -> None:
    s, pool = seeded
    rows = await lac.api_latency(
        pool, start=s.d0, end=s.d0 + 10 * DAY, granularity=granularity, group_by="service"
    )
    groups: dict[tuple[Any, Any], list[lac.ApiRequest]] = defaultdict(list)
    for t, e in _api(s):
        bucket = (
            t.replace(minute=0, second=0, microsecond=0) if granularity == "hour" else floor_day(t)
        )
        groups[(bucket, e.service)].append(e)
    assert [(r.bucket, r.service) for r in rows] == sorted(groups)
    for r in rows:
        evs = groups[(r.bucket, r.service)]
        durs = [e.duration_ms for e in evs]
        assert r.endpoint is None and r.method is None
        assert r.requests == len(evs) and r.requests_estimated == pytest.approx(len(evs))
        assert r.errors_4xx == sum(400 <= e.status_code < 500 for e in evs)
        assert r.errors_5xx == sum(e.status_code >= 500 for e in evs)
        assert r.max_ms == max(durs)
        assert r.avg_ms == pytest.approx(sum(durs) / len(durs))
        for q, est in ((0.5, r.p50_ms), (0.95, r.p95_ms), (0.99, r.p99_ms)):
            assert_close(est, durs, q)


async def test_api_latency_filters_and_totals(seeded: Seeded) -> None:
    s, pool = seeded
    api = _api(s)
    rows = await lac.api_latency(
        pool,
        start=s.d0,
        end=s.d0 + 10 * DAY,
        granularity="total",
        group_by="endpoint",
        service="platform",
    )
    expect = Counter((e.service, e.endpoint, e.method) for _, e in api if e.service == "platform")
    assert {(r.service, r.endpoint, r.method): r.requests for r in rows} == dict(expect)
    assert all(r.bucket is None for r in rows)

    only = await lac.api_latency(
        pool,
        start=s.d0 + 3 * DAY,
        end=s.d0 + 4 * DAY,
        granularity="hour",
        group_by="total",
        endpoint="/v1/tasks",
        method="post",  # method is case-insensitive
    )
    sel = [
        (t, e)
        for t, e in api
        if floor_day(t) == s.d0 + 3 * DAY and e.endpoint == "/v1/tasks" and e.method == "POST"
    ]
    hours = Counter(t.replace(minute=0) for t, _ in sel)
    assert [(r.bucket, r.requests) for r in only] == sorted(hours.items())

    total = await lac.api_latency(
        pool, start=s.d0, end=s.d0 + 10 * DAY, granularity="total", group_by="total"
    )
    assert len(total) == 1 and total[0].requests == len(api)
    assert_close(total[0].p99_ms, [e.duration_ms for _, e in api], 0.99)
    # a non-aligned total reads the hourly aggregate: only the requests inside the range
    part = await lac.api_latency(
        pool, start=s.at(3, 8), end=s.at(4, 8), granularity="total", group_by="total"
    )
    assert part[0].requests == sum(s.at(3, 8) <= t < s.at(4, 8) for t, _ in api)


async def test_integrations_auth_cocoons(seeded: Seeded) -> None:
    s, pool = seeded
    health = await lac.integration_health(pool, start=s.d0, end=s.d0 + 10 * DAY, by_day=False)
    assert [h.provider for h in health] == ["github", "linear", "slack"]
    gh = health[0]
    assert (gh.used, gh.used_success, gh.used_failed, gh.errors) == (4, 3, 1, 1)
    assert gh.success_rate == pytest.approx(0.75) and gh.avg_used_duration_ms == pytest.approx(250)
    assert gh.day is None
    slack = health[2]
    assert (slack.used, slack.connected, slack.oauth_started, slack.oauth_completed) == (2, 1, 1, 1)
    assert health[1].oauth_failed == 1
    daily = await lac.integration_health(pool, start=s.d0, end=s.d0 + 10 * DAY, provider="linear")
    assert [(h.day, h.oauth_failed) for h in daily] == [(s.d0 + 7 * DAY, 1)]

    auth = {r.day: r for r in await lac.auth_metrics(pool, start=s.d0, end=s.d0 + 10 * DAY)}
    a = auth[s.d0 + 9 * DAY]
    assert (a.login_attempts, a.login_success, a.login_failed) == (3, 2, 1)
    assert a.login_success_rate == pytest.approx(2 / 3)
    assert (a.codes_verified, a.codes_failed, a.sessions_validated, a.sessions_invalid) == (
        1,
        1,
        3,
        1,
    )
    refreshes = Counter(floor_day(t) for t, _ in s.of(lac.AuthTokenRefresh))
    failed = Counter(
        floor_day(t) for t, e in s.of(lac.AuthTokenRefresh) if not getattr(e, "success", True)
    )
    for day, r in auth.items():
        assert r.token_refreshes == refreshes.get(day, 0)
        assert r.token_refresh_failed == failed.get(day, 0)

    cocoons = {r.day: r for r in await lac.cocoon_activity(pool, start=s.d0, end=s.d0 + 10 * DAY)}
    c = cocoons[s.d0 + 5 * DAY]
    assert (c.registered, c.connected, c.disconnected, c.claimed) == (1, 2, 1, 1)
    assert (c.setup_tokens_created, c.setup_tokens_used, c.session_duration_sum_ms) == (
        1,
        1,
        60_000,
    )
    assert sum(r.connected for r in cocoons.values()) == 2


async def test_errors_and_top_errors(seeded: Seeded) -> None:
    s, pool = seeded
    errs = s.of(lac.ApplicationError)
    rows = await lac.errors(pool, start=s.d0, end=s.d0 + 10 * DAY)
    groups: dict[tuple[dt.datetime, str, str], list[str]] = defaultdict(list)
    for t, e in errs:
        assert isinstance(e, lac.ApplicationError)
        groups[(t.replace(minute=0), e.service, e.error_type)].append(e.message)
    assert [(r.hour, r.service, r.error_type, r.errors) for r in rows] == [
        (*k, len(v)) for k, v in sorted(groups.items())
    ]
    assert rows[0].sample_message in groups[(rows[0].hour, "platform", "DbTimeout")]
    only = await lac.errors(pool, start=s.d0, end=s.d0 + 10 * DAY, service="auth")
    assert [(r.error_type, r.errors) for r in only] == [("Redis", 1)]

    top = await lac.top_errors(pool, start=s.d0, end=s.d0 + 10 * DAY)
    assert [(t.service, t.error_type, t.errors) for t in top] == [
        ("platform", "DbTimeout", 4),
        ("auth", "Redis", 1),
    ]
    assert top[0].sample_message == "z"  # from the latest hour
    assert top[0].first_seen == s.at(8, 4) and top[0].last_seen == s.at(8, 6)
    assert await lac.top_errors(pool, start=s.d0, end=s.d0 + 10 * DAY, limit=1) == top[:1]

    assert await lac.list_services(pool, since=s.d0) == ["auth", "platform"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start": dt.date(2026, 2, 1), "end": dt.date(2026, 1, 1)}, "must be before"),
        ({"start": dt.date(2020, 1, 1), "end": dt.date(2026, 1, 1)}, "longer than the maximum"),
        ({"start": dt.datetime(2026, 1, 1), "end": dt.date(2026, 1, 2)}, "timezone-aware"),
        ({"start": "2026-01-01", "end": dt.date(2026, 1, 2)}, "date or a timezone-aware"),
    ],
)
async def test_range_validation(database_url: str, kwargs: dict[str, Any], message: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        for fn in (lac.task_stats, lac.active_users, lac.auth_metrics):
            with pytest.raises(QueryError, match=message):
                await fn(conn, **kwargs)
    finally:
        await conn.close()


async def test_parameter_validation(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    start, end = dt.date(2026, 1, 1), dt.date(2026, 1, 2)
    try:
        with pytest.raises(QueryError, match="granularity"):
            await lac.api_latency(conn, start=start, end=end, granularity="minute")  # type: ignore[arg-type]
        with pytest.raises(QueryError, match="group_by"):
            await lac.api_latency(conn, start=start, end=end, group_by="host")  # type: ignore[arg-type]
        with pytest.raises(QueryError, match="limit"):
            await lac.api_latency(conn, start=start, end=end, limit=0)
        with pytest.raises(QueryError, match="limit"):
            await lac.errors(conn, start=start, end=end, limit=10**9)
        with pytest.raises(QueryError, match="service"):
            await lac.errors(conn, start=start, end=end, service="")
        with pytest.raises(QueryError, match="maximum"):  # hourly data: three months at most
            await lac.api_latency(conn, start=start, end=dt.date(2026, 6, 1), granularity="hour")
        # the same range is fine from the daily rollup
        assert (
            await lac.api_latency(conn, start=start, end=dt.date(2026, 6, 1), granularity="day")
            == []
        )
    finally:
        await conn.close()


async def test_missing_schema_is_a_database_error(empty_database_url: str) -> None:
    conn = await asyncpg.connect(empty_database_url)
    try:
        with pytest.raises(lac.NotMigratedError, match="run `analytics-migrate`") as caught:
            await lac.task_stats(conn, start=dt.date(2026, 1, 1), end=dt.date(2026, 1, 2))
        assert caught.value.kind is lac.ErrorKind.NOT_MIGRATED
    finally:
        await conn.close()


_UTC = dt.UTC
_EDGES: list[tuple[Any, Any, str]] = [
    (dt.date(1, 1, 1), dt.date(1, 1, 5), "outside the accepted window"),
    (dt.datetime.min.replace(tzinfo=_UTC), dt.date(2026, 1, 2), "outside the accepted window"),
    (dt.date(2026, 1, 1), dt.date(9999, 12, 31), "outside the accepted window"),
    (dt.date(9999, 12, 30), dt.date(9999, 12, 31), "outside the accepted window"),
    (dt.date(2026, 1, 1), dt.datetime.max.replace(tzinfo=_UTC), "outside the accepted window"),
    (
        dt.date(2026, 1, 1),
        dt.datetime.max.replace(tzinfo=dt.timezone(dt.timedelta(hours=-5))),
        "out of range",
    ),
    (dt.date(1999, 12, 31), dt.date(2000, 1, 2), "outside the accepted window"),
    (
        dt.datetime(2200, 1, 1, 0, 0, 1, tzinfo=_UTC),  # just past read.window.LATEST
        dt.datetime(2200, 1, 2, tzinfo=_UTC),
        "outside the accepted window",
    ),
    (dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 2), "timezone-aware"),
    (dt.date(2026, 1, 2), dt.datetime(2026, 1, 3), "timezone-aware"),
    (dt.date(2026, 1, 2), dt.date(2026, 1, 1), "must be before"),
    (dt.date(2026, 1, 1), dt.date(2026, 1, 1), "must be before"),
]
_QUERIES: list[Any] = [
    lac.active_users,
    lac.task_stats,
    lac.auth_metrics,
    lac.cocoon_activity,
    lac.integration_health,
    lac.errors,
    lac.top_errors,
    *(
        functools.partial(lac.api_latency, granularity=g, group_by=b)
        for g in ("hour", "day", "total")
        for b in ("total", "service", "endpoint")
    ),
]


@pytest.mark.parametrize(("start", "end", "message"), _EDGES)
async def test_every_query_rejects_out_of_window_dates(
    database_url: str, start: Any, end: Any, message: str
) -> None:
    # A statement timeout, so that a query the validation lets through fails instead of
    # running forever (asyncpg sends year 1 / 9999 as -infinity / infinity).
    conn = await asyncpg.connect(database_url, server_settings={"statement_timeout": "3000"})
    try:
        for fn in _QUERIES:
            with pytest.raises(QueryError, match=message):
                await fn(conn, start=start, end=end)
        if message != "must be before":
            bad = end if _fine(start) else start
            with pytest.raises(QueryError):
                await lac.list_services(conn, since=bad)
    finally:
        await conn.close()


def _fine(value: Any) -> bool:
    try:
        read_common._as_utc(value, "x")
    except QueryError:
        return False
    return True


async def test_window_edges_that_are_accepted(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        soon = dt.datetime.now(_UTC) + dt.timedelta(days=300)
        for fn in _QUERIES:
            await fn(conn, start=dt.date(2000, 1, 1), end=dt.date(2000, 1, 3))
            await fn(conn, start=soon, end=soon + dt.timedelta(days=2))
        assert await lac.list_services(conn, since=dt.date(2000, 1, 1)) == []
    finally:
        await conn.close()
