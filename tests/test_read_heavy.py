"""Heavy reads (explore, streamed and copied exports) run with JIT off and a larger
``work_mem`` for their own transaction only (``read._exec.HEAVY_SETTINGS``): the
settings are what the statement sees, and the connection (pooled or not, maybe behind
PgBouncer) goes back with the server's defaults."""

from __future__ import annotations

import datetime as dt

import asyncpg
import pytest

from lib_analytics_core.read import _exec
from lib_analytics_core.read import explore as ex

SEEN = "SELECT current_setting('jit') AS jit, current_setting('work_mem') AS wm"


async def test_heavy_fetch_sees_the_settings_and_leaves_none(db: asyncpg.Connection) -> None:
    before = await db.fetchrow(SEEN)
    assert before is not None
    rows = await _exec.fetch(db, "t.heavy", SEEN, heavy=True)
    assert (rows[0]["jit"], rows[0]["wm"]) == ("off", "64MB")
    after = await db.fetchrow(SEEN)
    assert after == before
    assert not db.is_in_transaction()


async def test_heavy_fetch_inside_a_callers_transaction(db: asyncpg.Connection) -> None:
    async with db.transaction():
        rows = await _exec.fetch(db, "t.heavy", SEEN, heavy=True)
        assert rows[0]["jit"] == "off"
        assert db.is_in_transaction()
    assert (await db.fetchval("SELECT current_setting('work_mem')")) != "64MB"


async def test_heavy_fetch_failure_rolls_back(db: asyncpg.Connection) -> None:
    with pytest.raises(Exception, match="division by zero"):
        await _exec.fetch(db, "t.heavy", "SELECT 1 / 0", heavy=True)
    assert not db.is_in_transaction()
    assert await db.fetchval("SELECT 1") == 1


async def test_explore_runs_as_a_heavy_read(db: asyncpg.Connection) -> None:
    """Inside a caller's transaction the settings last until its end (documented), which
    shows from outside that explore's statement ran with them."""
    end = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    async with db.transaction():
        await ex.explore(db, start=end - dt.timedelta(days=1), end=end, event_type="api_request")
        row = await db.fetchrow(SEEN)
        assert row is not None
        assert (row["jit"], row["wm"]) == ("off", "64MB")


@pytest.mark.parametrize(
    ("days", "compare", "cost"), [(1, False, "0.1"), (2, True, "0.01"), (3, False, "0.01")]
)
async def test_explore_over_more_than_two_days_runs_in_parallel(
    db: asyncpg.Connection, days: int, compare: bool, cost: str
) -> None:
    """Questions reading more than two days of rows (the previous period included) are
    offered to parallel workers (``_exec.PARALLEL_SETTINGS``); shorter ones keep the
    server's price of a worker's row, and nothing outlasts the statement's transaction."""
    end = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    price = "SELECT current_setting('parallel_tuple_cost')"
    before = await db.fetchval(price)
    async with db.transaction():
        await ex.explore(
            db, start=end - dt.timedelta(days=days), end=end, event_type="api_request",
            compare=compare,
        )  # fmt: skip
        assert await db.fetchval(price) == cost
    assert await db.fetchval(price) == before == "0.1"
    rows = await _exec.fetch(db, "t.parallel", price, heavy=True, parallel=True)
    assert rows[0][0] == "0.01"
    assert await db.fetchval(price) == "0.1"


@pytest.mark.parametrize("dims", [["endpoint"], ["endpoint", "service"]])
@pytest.mark.parametrize(("measure", "rows", "reads"), [("users", "base", 2), ("count", "agg", 1)])
async def test_explore_ranks_each_dimension_once(
    db: asyncpg.Connection, dims: list[str], measure: str, rows: str, reads: int
) -> None:
    """The plan reads the materialised rows (``base``, with distinct users; else the
    grouped ``agg``) once per dimension's ranking plus ``reads`` times for the aggregates
    (with users: the grouping-set parts and the (group, user) pairs). Inlined, the ranking
    became one sub-plan per reference: 3 per dimension over ~1M rows at 10M."""
    end = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    ms = [ex.parse_measure(measure)]
    sql, params = ex._sql("api_request", end - dt.timedelta(days=1), end, None, ms, [], dims,
                          "day", 10)  # fmt: skip
    plan = await db.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *params.values)
    assert str(plan).count(f'"CTE Name": "{rows}"') == len(dims) + reads
