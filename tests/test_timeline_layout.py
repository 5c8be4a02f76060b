"""Compressed chunks ordered by user (migration 0019, timescale tier).

A user's rows in a compressed chunk are found by the min/max of user_id per batch once
the chunk's rows are ordered by user_id within each event type; before 0019 they were
ordered by time and every batch had to be looked at (BENCHMARKS.md). Checked here on
whatever TimescaleDB the tests get (PGlite, or ``$TEST_TIMESCALE_URL``):

* after ``migrate``, chunks compressed from then on carry the layout (orderby user_id
  first, the bloom filter on event_id) and the timeline over them equals the reference;
* a late redelivery into a compressed chunk (``INSERT ... ON CONFLICT DO NOTHING``, what
  the writer does) stores nothing twice and a new row there is found;
* upgrading a database whose chunks are already compressed: they keep their layout and
  still answer correctly, new compressions get 0019's, and the recompression that
  docs/timescaledb.md gives converts an old chunk.
"""

from __future__ import annotations

import datetime as dt
import importlib.resources
import uuid

import asyncpg
import pytest

import lib_analytics_core as lac
from tests import _explore_seed as seed
from tests.test_users import _check_timelines, _ties

pytestmark = pytest.mark.timescale

_MIGRATION = "0019_post_timeline_layout.timescale.sql"
# 0010's layout, as databases migrated before 0019 have it.
_LAYOUT_0010 = (
    'ALTER TABLE analytics_events SET (timescaledb.compress_orderby = \'"timestamp" DESC,'
    " event_id', timescaledb.compress_index = 'bloom(user_id)')"
)
_RECOMPRESS = "SELECT decompress_chunk($1::regclass), compress_chunk($1::regclass)"


async def _seeded(url: str, *, layout_0010: bool = False) -> dt.datetime:
    conn = await asyncpg.connect(url, statement_cache_size=0)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        await lac.migrate(conn)
        if layout_0010:
            await conn.execute(_LAYOUT_0010)
        now: dt.datetime = await conn.fetchval("SELECT now()")
        await _ties(conn, seed.USERS[0], now)
    finally:
        await conn.close()
    await seed.write(url, now, n=200)
    return now


async def _compress_older(conn: asyncpg.Connection, days: int) -> list[str]:
    return [
        r[0]
        for r in await conn.fetch(
            "SELECT compress_chunk(c, if_not_compressed => true)::text"
            " FROM show_chunks('analytics_events', older_than => now() - $1::interval) c",
            dt.timedelta(days=days),
        )
    ]


async def _chunk_orderby(conn: asyncpg.Connection) -> dict[str, str]:
    """Each compressed chunk's orderby, as TimescaleDB recorded it for that chunk."""
    return {
        str(r["chunk"]): str(r["orderby"])
        for r in await conn.fetch(
            "SELECT chunk::text AS chunk, orderby"
            " FROM timescaledb_information.chunk_compression_settings"
            " WHERE hypertable = 'analytics_events'::regclass"
        )
    }


async def _redeliver(conn: asyncpg.Connection, chunks: list[str]) -> None:
    """Every stored row of ``chunks`` sent again, then one new row inside their range:
    the copies are skipped, the new row is stored once and is on its user's timeline."""
    before = await conn.fetchval("SELECT count(*) FROM analytics_events")
    for chunk in chunks:
        status = await conn.execute(
            'INSERT INTO analytics_events ("timestamp", event_id, event_type, service,'
            ' user_id, data) SELECT "timestamp", event_id, event_type, service, user_id,'
            f' data FROM {chunk} ON CONFLICT ("timestamp", event_id) DO NOTHING'
        )
        assert status == "INSERT 0 0", (chunk, status)
    assert await conn.fetchval("SELECT count(*) FROM analytics_events") == before
    when = await conn.fetchval(f"SELECT min(\"timestamp\") + interval '1 second' FROM {chunks[0]}")
    new = uuid.UUID(int=0x0019_0000 + 1, version=4)
    for _ in range(2):
        await conn.execute(
            'INSERT INTO analytics_events ("timestamp", event_id, event_type, service,'
            " user_id, data) VALUES ($1, $2, 'invoice_paid_x', 'billing', $3,"
            ' \'{"amount_cents": 1, "currency": "EUR"}\'::jsonb)'
            ' ON CONFLICT ("timestamp", event_id) DO NOTHING',
            when,
            new,
            seed.USERS[1],
        )
    assert await conn.fetchval("SELECT count(*) FROM analytics_events") == before + 1


async def test_chunks_compressed_after_0019_are_ordered_by_user(timescale_url: str) -> None:
    await _seeded(timescale_url)
    conn = await asyncpg.connect(timescale_url, statement_cache_size=0)
    try:
        settings = await conn.fetchrow(
            "SELECT segmentby, orderby FROM timescaledb_information.hypertable_compression_settings"
            " WHERE hypertable = 'analytics_events'::regclass"
        )
        assert settings is not None
        assert settings["segmentby"] == "event_type"  # explore and funnels read one type
        assert settings["orderby"].startswith("user_id"), settings["orderby"]
        configured = await conn.fetchval(
            "SELECT index::text FROM _timescaledb_catalog.compression_settings"
            " WHERE relid = 'analytics_events'::regclass"
        )
        assert '"column": "event_id"' in configured and '"type": "bloom"' in configured
        chunks = await _compress_older(conn, 2)
        assert chunks
        layouts = await _chunk_orderby(conn)
        assert layouts and all(o.startswith("user_id") for o in layouts.values()), layouts
        await _check_timelines(conn)
        await _redeliver(conn, sorted(layouts))
        await _check_timelines(conn)
    finally:
        await conn.close()


async def test_upgrading_keeps_compressed_chunks_correct_and_recompression_converts(
    timescale_url: str,
) -> None:
    await _seeded(timescale_url, layout_0010=True)
    sql = (
        importlib.resources.files("lib_analytics_core.schema") / "migrations" / _MIGRATION
    ).read_text(encoding="utf-8")
    conn = await asyncpg.connect(timescale_url, statement_cache_size=0)
    try:
        old = await _compress_older(conn, 4)
        assert old
        assert all(o.startswith('"timestamp"') for o in (await _chunk_orderby(conn)).values())
        await conn.execute(sql)  # 0019 on a database whose chunks are compressed
        # The chunks compressed before keep their layout and still answer correctly ...
        layouts = await _chunk_orderby(conn)
        assert all(layouts[c].startswith('"timestamp"') for c in old), layouts
        await _check_timelines(conn)
        await _redeliver(conn, old)
        # ... chunks compressed from now on get 0019's (mixed layouts on one page) ...
        await _compress_older(conn, 2)
        layouts = await _chunk_orderby(conn)
        new = [c for c in layouts if c not in old]
        assert new and all(layouts[c].startswith("user_id") for c in new), layouts
        await _check_timelines(conn)
        # ... and recompressing an old chunk (docs/timescaledb.md) converts it.
        for chunk in old:
            await conn.execute(_RECOMPRESS, chunk)
        layouts = await _chunk_orderby(conn)
        assert all(o.startswith("user_id") for o in layouts.values()), layouts
        await _check_timelines(conn)
    finally:
        await conn.close()
