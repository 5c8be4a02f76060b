"""Retention with "any event" as the return event reads the per-user daily rollup where it
is current and raw rows where it is not (read/_active_days.py): exact at every moment of
the maintainer's cycle, on plain PostgreSQL and on the timescale tier.

The histories here are sparse on purpose (many users, few events each), so a return
that only a late row carries decides a cell: the rows written after the last refresh,
in days the rollup already has, are the case the rollup alone would miss.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import asyncpg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lib_analytics_core as lac
from lib_analytics_core.read import _exec
from lib_analytics_core.read import retention as rt
from lib_analytics_core.schema.facts import (
    DAILY_ACTIVE_USERS,
    WEEKLY_ACTIVE_USERS,
    WEEKLY_PENDING_TABLE,
)
from lib_analytics_core.schema.maintenance_recent import refresh_recent
from tests import _funnel_reference as ref
from tests._explore_reference import Raw
from tests.test_funnels import GENERATED, clear, on_loop, retention_normalized, write

DAY = dt.timedelta(days=1)
USERS = [uuid.UUID(int=0xE0000 + i, version=4) for i in range(6)]


async def answer(
    conn: asyncpg.Connection, rows: list[Raw], **q: Any
) -> tuple[dict[Any, Any], dict[Any, Any], list[str]]:
    sqls: list[str] = []
    with _exec.tracing(lambda t: sqls.append(t.sql)):
        got = await rt.retention(conn, return_event=None, **q)
    want = ref.retention(
        rows,
        return_event=None,
        now=got.as_of,
        periods=got.periods,
        breakdown=q.get("breakdown") == "service",
        top=q.get("top", 10),
        **{k: v for k, v in q.items() if k not in ("breakdown", "top", "periods")},
    )
    return retention_normalized(got), want, sqls


def raw(i: int, user: int, t: dt.datetime, kind: str) -> Raw:
    return Raw(t, uuid.UUID(int=0xB0000 + i, version=4), kind, "web", USERS[user], {})


async def test_a_late_row_in_a_day_the_rollup_has_counts_at_once(db: asyncpg.Connection) -> None:
    """Named case: user 0 joins on day 0 and is active on day 1; the maintainer folds
    both days in; then a row of day 2 arrives (and one more of day 1 for user 1, a day
    the rollup already has). Both count before any refresh, and after it."""
    now: dt.datetime = await db.fetchval("SELECT now()")
    d0 = now.replace(hour=0, minute=0, second=0, microsecond=0) - 10 * DAY
    early = [
        raw(0, 0, d0 + dt.timedelta(hours=1), "signup"),
        raw(1, 1, d0 + dt.timedelta(hours=2), "signup"),
        raw(2, 0, d0 + DAY + dt.timedelta(hours=3), "x"),
    ]
    late = [raw(3, 0, d0 + 2 * DAY + dt.timedelta(hours=4), "x"), raw(4, 1, d0 + DAY, "x")]
    await write(db, early)
    await lac.maintain(db)
    assert await db.fetchval(f"SELECT count(*) FROM {DAILY_ACTIVE_USERS}") == 3
    await write(db, late)
    q = {"start": d0, "end": d0 + DAY, "cohort_event": "signup", "period": "day", "periods": 5}
    got, want, sqls = await answer(db, early + late, **q)
    assert got == want
    assert got[None][0][1] == [2, 2, 1, 0, 0, 0]
    assert any(DAILY_ACTIVE_USERS in s for s in sqls), "the rollup was not read"
    await lac.maintain(db)
    got, want, _ = await answer(db, early + late, **q)
    assert got == want


events = st.lists(
    st.tuples(
        st.integers(0, len(USERS) - 1),
        st.integers(0, 8 * 24 - 1),  # hour of an 8-day history
        st.sampled_from(["signup", "x"]),
        st.sampled_from([0, 1, 2]),  # 0: before the first refresh, 1: between, 2: after
    ),
    min_size=1,
    max_size=30,
)


def run(url: str, timescale: bool, examples: int) -> None:
    def body(loop: asyncio.AbstractEventLoop, conn: asyncpg.Connection, today: dt.datetime) -> None:
        base = today - 9 * DAY

        @settings(GENERATED, max_examples=examples)
        @given(
            evs=events,
            start_day=st.integers(0, 3),
            days=st.integers(1, 6),
            period=st.sampled_from(["day", "week", "month"]),
            by_service=st.booleans(),
        )
        def agree(
            evs: list[tuple[int, int, str, int]],
            start_day: int,
            days: int,
            period: str,
            by_service: bool,
        ) -> None:
            async def case() -> None:
                await clear(conn, timescale)
                rows = [
                    raw(i, u, base + h * dt.timedelta(hours=1), kind)
                    for i, (u, h, kind, _) in enumerate(evs)
                ]
                waves = [[r for r, e in zip(rows, evs, strict=True) if e[3] == w] for w in range(3)]
                await write(conn, waves[0])
                await lac.maintain(conn, compress_after=DAY)
                await write(conn, waves[1])
                await lac.maintain(conn, compress_after=DAY)
                await write(conn, waves[2])
                q: dict[str, Any] = {
                    "start": base + start_day * DAY,
                    "end": base + (start_day + days) * DAY,
                    "cohort_event": "signup",
                    "period": period,
                }
                if by_service:
                    q["breakdown"] = "service"
                got, want, sqls = await answer(conn, rows, **q)
                assert got == want
                assert any(DAILY_ACTIVE_USERS in s for s in sqls)

            loop.run_until_complete(case())

        agree()

    on_loop(url, timescale, body)


def test_sparse_histories_across_refreshes_equal_the_reference(database_url: str) -> None:
    """Rows before, between and after two refreshes: the answer equals the reference
    computed from every row, whichever of them the rollup holds yet."""
    run(database_url, timescale=False, examples=100)


@pytest.mark.timescale
def test_sparse_histories_across_refreshes_on_the_timescale_tier(timescale_url: str) -> None:
    run(timescale_url, timescale=True, examples=15)


# ----------------------------------------------------- the weekly rollup (migration 0020)


def week_start(t: dt.datetime) -> dt.datetime:
    day = t.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - day.weekday() * DAY


async def weekly_rows(conn: asyncpg.Connection) -> set[tuple[dt.datetime, uuid.UUID]]:
    return {
        (r["week"], r["user_id"])
        for r in await conn.fetch(f"SELECT week, user_id FROM {WEEKLY_ACTIVE_USERS}")
    }


async def weekly_staleness_cases(conn: asyncpg.Connection, timescale: bool) -> None:
    """Named cases, in one history: weeks the weekly rollup has whole are read from it;
    a late event into a week it already has, a week the frequent refresh recomputed
    days of (partitioned tier: listed as pending) and an erased user are each exact
    at once, and after the next refresh."""
    await clear(conn, timescale)
    now: dt.datetime = await conn.fetchval("SELECT now()")
    w0 = week_start(now) - 5 * 7 * DAY  # the cohort's week; weeks 1-4 after it are past
    h = dt.timedelta(hours=1)
    rows = [
        raw(0, 0, w0 + h, "signup"),
        raw(1, 1, w0 + 2 * h, "signup"),
        raw(2, 2, w0 + 3 * h, "signup"),
        raw(3, 0, w0 + 7 * DAY + h, "x"),  # week 1
        raw(4, 1, w0 + 9 * DAY + h, "x"),  # week 1
        raw(5, 2, w0 + 15 * DAY + h, "x"),  # week 2
        raw(6, 1, w0 + 22 * DAY + h, "x"),  # week 3
    ]
    await write(conn, rows)
    await lac.maintain(conn, compress_after=DAY)
    q = {"start": w0, "end": w0 + DAY, "cohort_event": "signup", "period": "week", "periods": 4}

    async def check(expect: list[int]) -> list[str]:
        got, want, sqls = await answer(conn, rows, **q)
        assert got == want
        assert got[None][0][1] == expect
        by_service, want, _ = await answer(conn, rows, **q, breakdown="service")
        assert by_service == want
        return sqls

    sqls = await check([3, 2, 1, 1, 0])
    assert any(WEEKLY_ACTIVE_USERS in s for s in sqls), "the weekly rollup was not read"
    assert (w0 + 7 * DAY, USERS[1]) in await weekly_rows(conn)

    # A late event into week 4, which the weekly rollup has (empty for user 0), and one
    # into week 2 for user 0: the daily rollup lacks their days, so both weeks are read
    # from the days (and those days raw) until a refresh.
    late = [raw(7, 0, w0 + 29 * DAY + h, "x"), raw(8, 0, w0 + 16 * DAY, "x")]
    await write(conn, late)
    rows += late
    await check([3, 2, 2, 1, 1])
    if timescale:
        # The daily aggregate's refresh policy alone (the weekly one's runs later):
        # TimescaleDB logs the change of the daily rows for the weekly aggregate.
        await conn.execute(
            "CALL refresh_continuous_aggregate($1::regclass, NULL, NULL)", DAILY_ACTIVE_USERS
        )
        assert (w0 + 28 * DAY, USERS[0]) not in await weekly_rows(conn)
        await check([3, 2, 2, 1, 1])
    else:
        # The frequent refresh recomputes those days of the daily rollup only: the
        # weekly rollup still lacks user 0 in weeks 2 and 4, and the weeks are pending.
        await refresh_recent(conn)
        assert (w0 + 28 * DAY, USERS[0]) not in await weekly_rows(conn)
        pending = {r[0] for r in await conn.fetch(f"SELECT week FROM {WEEKLY_PENDING_TABLE}")}
        assert pending - {week_start(now)} == {w0 + 14 * DAY, w0 + 28 * DAY}
        await check([3, 2, 2, 1, 1])
    await lac.maintain(conn, compress_after=DAY)
    await check([3, 2, 2, 1, 1])
    assert {(w0 + 14 * DAY, USERS[0]), (w0 + 28 * DAY, USERS[0])} <= await weekly_rows(conn)
    if not timescale:  # only the week in progress is left to the days
        pending = {r[0] for r in await conn.fetch(f"SELECT week FROM {WEEKLY_PENDING_TABLE}")}
        assert pending <= {week_start(now)}

    # Erasure: user 1 goes from every rollup at once, and stays gone after a refresh.
    await lac.forget_user(conn, USERS[1])
    rows = [r for r in rows if r.user_id != USERS[1]]
    assert all(u != USERS[1] for _, u in await weekly_rows(conn))
    await check([2, 1, 2, 0, 1])
    await lac.maintain(conn, compress_after=DAY)
    await check([2, 1, 2, 0, 1])
    assert all(u != USERS[1] for _, u in await weekly_rows(conn))


async def test_weekly_rollup_staleness_cases(db: asyncpg.Connection) -> None:
    await weekly_staleness_cases(db, timescale=False)


@pytest.mark.timescale
def test_weekly_rollup_staleness_cases_on_the_timescale_tier(timescale_url: str) -> None:
    def body(loop: asyncio.AbstractEventLoop, conn: asyncpg.Connection, _: dt.datetime) -> None:
        loop.run_until_complete(weekly_staleness_cases(conn, timescale=True))

    on_loop(timescale_url, True, body)


weeks_events = st.lists(
    st.tuples(
        st.integers(0, 2),  # few users, so a late row often decides whether one returned
        st.integers(0, 5 * 7 - 1),  # the day of a 5-week history
        st.sampled_from(["signup", "x", "x"]),
        st.sampled_from([0, 1, 1, 2]),  # 0: before maintain, 1: before the tick, 2: after it
    ),
    min_size=2,
    max_size=30,
)


def run_weeks(url: str, timescale: bool, examples: int) -> None:
    """Weekly cohorts over 5 ended weeks, so the weekly rollup answers whole weeks: rows
    before a maintain, rows before and after the maintainer's frequent tick (late rows
    into weeks the rollup has), and an erasure; the answer always equals the reference."""

    def body(loop: asyncio.AbstractEventLoop, conn: asyncpg.Connection, today: dt.datetime) -> None:
        base = week_start(today) - 5 * 7 * DAY

        @settings(GENERATED, max_examples=examples)
        @given(
            evs=weeks_events,
            start_week=st.integers(0, 2),
            weeks=st.integers(1, 3),
            forget=st.one_of(st.none(), st.integers(0, len(USERS) - 1)),
        )
        def agree(
            evs: list[tuple[int, int, str, int]], start_week: int, weeks: int, forget: int | None
        ) -> None:
            async def case() -> None:
                await clear(conn, timescale)
                rows = [
                    raw(i, u, base + q * DAY + dt.timedelta(hours=i % 24), kind)
                    for i, (u, q, kind, _) in enumerate(evs)
                ]
                waves = [[r for r, e in zip(rows, evs, strict=True) if e[3] == w] for w in range(3)]
                await write(conn, waves[0])
                await lac.maintain(conn, compress_after=DAY)
                await write(conn, waves[1])
                await refresh_recent(conn)
                await write(conn, waves[2])
                if forget is not None:
                    await lac.forget_user(conn, USERS[forget])
                    rows = [r for r in rows if r.user_id != USERS[forget]]
                q: dict[str, Any] = {
                    "start": base + start_week * 7 * DAY,
                    "end": base + (start_week + weeks) * 7 * DAY,
                    "cohort_event": "signup",
                    "period": "week",
                }
                got, want, sqls = await answer(conn, rows, **q)
                assert got == want
                assert any(WEEKLY_ACTIVE_USERS in s for s in sqls)

            loop.run_until_complete(case())

        agree()

    on_loop(url, timescale, body)


def test_weekly_cohorts_across_refreshes_and_erasure_equal_the_reference(database_url: str) -> None:
    run_weeks(database_url, timescale=False, examples=60)


@pytest.mark.timescale
def test_weekly_cohorts_across_refreshes_on_the_timescale_tier(timescale_url: str) -> None:
    run_weeks(timescale_url, timescale=True, examples=10)
