"""Migration 0013 (partitioned tier): ``maintain()`` orders each finished day's partition
by event type once, so one type's rows sit on pages of their own (what keeps explore's
reads proportional to the type's rows, BENCHMARKS.md); answers are unchanged by it."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import asyncpg

import lib_analytics_core as lac
from lib_analytics_core.read import explore as ex
from lib_analytics_core.schema import facts
from tests import _explore_seed as seed

DAY = dt.timedelta(days=1)


async def _pages_per_type(conn: asyncpg.Connection, part: str) -> dict[str, tuple[int, int, int]]:
    """Per event type: first page, last page, pages holding it, in one partition."""
    rows = await conn.fetch(
        f"SELECT event_type, min((ctid::text::point)[0])::int AS lo,"
        f" max((ctid::text::point)[0])::int AS hi,"
        f" count(DISTINCT (ctid::text::point)[0])::int AS pages FROM {part} GROUP BY 1"
    )
    return {r["event_type"]: (r["lo"], r["hi"], r["pages"]) for r in rows}


async def test_maintain_orders_finished_days_by_event_type_once(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        now: dt.datetime = await conn.fetchval("SELECT now()")
        await seed.write(database_url, now, n=1200)
        d0 = seed.start_of(now)
        question: dict[str, Any] = {
            "start": d0,
            "end": d0 + 7 * DAY,
            "event_type": "invoice_paid_x",
            "group_by": ["currency"],
            "measures": ["count", "sum:amount_cents", "p50:amount_cents"],
        }
        before = await ex.explore(conn, **question)

        report = await lac.maintain(conn)
        today = now.replace(hour=0, minute=0, second=0, microsecond=0)
        finished = [
            d for d in (d0 + i * DAY for i in range(7)) if d + DAY <= now - facts.ORDER_AFTER
        ]
        assert finished and sorted(report.days_ordered) == finished
        assert set(report.days_ordered).isdisjoint({today, today - DAY})
        stored = {r["day"] for r in await conn.fetch("SELECT day FROM analytics_ordered_days")}
        assert stored == set(finished)
        for day in finished:
            part = "analytics_events_p" + day.strftime("%Y%m%d")
            spans = await _pages_per_type(conn, part)
            ranges = sorted((lo, hi) for lo, hi, _ in spans.values())
            assert len(ranges) >= 2, part
            # each type's pages are one contiguous run, shared at most at the boundaries
            for (_, hi), (lo, _) in itertools.pairwise(ranges):
                assert lo >= hi, (part, ranges)
        # not again: each day once
        assert (await lac.maintain(conn)).days_ordered == ()
        after = await ex.explore(conn, **question)
        assert after.rows == before.rows
    finally:
        await conn.close()
