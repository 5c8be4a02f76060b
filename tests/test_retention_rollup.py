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
from lib_analytics_core.schema.facts import DAILY_ACTIVE_USERS
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
