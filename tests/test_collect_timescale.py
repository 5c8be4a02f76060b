"""The collector on the TimescaleDB tier (hypertable; PGlite's WASM build takes the
array-INSERT path, a native server binary COPY): the seed batch stored, a retry once."""

from __future__ import annotations

import asyncpg
import httpx
import msgspec
import pytest

import lib_analytics_core as lac
from tests._collect import AUTH, collector, seed_batch

pytestmark = pytest.mark.timescale


async def test_collector_on_timescaledb_stores_each_event_once(timescale_url: str) -> None:
    conn = await asyncpg.connect(timescale_url, statement_cache_size=0)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")  # a fresh database
        assert await lac.detect_server_kind(conn) is lac.ServerKind.TIMESCALEDB
        await lac.migrate(conn)
    finally:
        await conn.close()
    batch = msgspec.json.encode(seed_batch())
    # one connection: PGlite serves one at a time
    with collector(timescale_url, pool_size=1) as url:
        async with httpx.AsyncClient(timeout=60) as http:
            for _ in range(2):
                r = await http.post(f"{url}/events/batch", content=batch, headers=AUTH)
                assert r.json() == {"received": 29, "rejected": []}
    conn = await asyncpg.connect(timescale_url, statement_cache_size=0)
    try:
        assert await conn.fetchval("SELECT count(*) FROM analytics_events") == 29
        types = await conn.fetchval("SELECT count(DISTINCT event_type) FROM analytics_events")
        assert types == 29
    finally:
        await conn.close()
