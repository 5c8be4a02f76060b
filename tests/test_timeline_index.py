"""The timeline's page order ("timestamp" DESC, event_id DESC per user) is an index's
order (migration 0018), so a page is one index descent per partition or chunk instead
of a backward walk of the primary key filtered by user (the timescale tier's snapshot,
current_timescale.sql, shows the same index there)."""

from __future__ import annotations

import asyncpg


async def test_an_index_gives_the_timeline_order(db: asyncpg.Connection) -> None:
    defs = await db.fetch("SELECT indexdef FROM pg_indexes WHERE tablename = 'analytics_events'")
    wanted = '(user_id, "timestamp" DESC, event_id DESC)'
    assert any(r["indexdef"].endswith(wanted) for r in defs), [r["indexdef"] for r in defs]
    # 0018 replaced 0001's (user_id, "timestamp" DESC): one user index to maintain on ingest
    assert sum("(user_id" in r["indexdef"] for r in defs) == 1
