"""``analytics-collect --transport nats://…``: a 200 means JetStream acknowledged every
accepted event; ``analytics-ingest`` then stores them, a retried batch once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import asyncpg
import httpx
import msgspec
import pytest

from lib_analytics_core.bus.stream import setup_bus
from lib_analytics_core.collect.app import create_collector
from tests._bus import bus_for, running_ingest, wait_drained
from tests._collect import AUTH, config, seed_batch
from tests._nats import NatsServer, nats_server
from tests._serve import serve_in_thread

pytest.importorskip("nats")


@pytest.fixture
def server() -> Iterator[NatsServer]:
    with nats_server() as s:
        yield s


async def _post(url: str, body: object) -> httpx.Response:
    async with httpx.AsyncClient(timeout=60) as http:
        return await http.post(
            f"{url}/events/batch", content=msgspec.json.encode(body), headers=AUTH
        )


async def test_bus_mode_acks_after_jetstream_and_ingest_stores_once(
    server: NatsServer, database_url: str, db: asyncpg.Connection
) -> None:
    bus = bus_for(server.url)
    batch = seed_batch()
    async with running_ingest(database_url, bus):
        app = create_collector(config(), transport=server.url)
        with serve_in_thread(app) as url:
            first = await _post(url, batch)
            assert first.json() == {"received": 29, "rejected": []}
            again = await _post(url, batch)  # the client retries: same ids
            assert again.status_code == 200
        await wait_drained(bus)
    assert await db.fetchval("SELECT count(*) FROM analytics_events") == 29
    assert await db.fetchval("SELECT count(DISTINCT event_id) FROM analytics_events") == 29


async def test_bus_down_is_503_with_retry_after(server: NatsServer) -> None:
    await setup_bus(bus_for(server.url))  # what analytics-bus setup does in a deploy
    app = create_collector(config(write_timeout_secs=2.0), transport=server.url)
    with serve_in_thread(app) as url:
        assert (await _post(url, seed_batch()[:2])).status_code == 200
        server.kill()
        down = await asyncio.wait_for(_post(url, seed_batch()[2:4]), 60)
    assert down.status_code == 503 and int(down.headers["Retry-After"]) >= 1


async def test_segment_messages_through_the_bus_are_stored_once(
    server: NatsServer, database_url: str, db: asyncpg.Connection
) -> None:
    """The Segment routes take the same write path: JetStream acks, then the ingest
    service stores each message once (a retried batch keeps its messageId row ids)."""
    bus = bus_for(server.url)
    batch = {
        "batch": [
            {
                "type": "track",
                "messageId": f"m{i}",
                "userId": f"u{i % 3}",
                "event": "Bus Ride",
                "timestamp": f"2026-12-01T10:00:0{i}Z",
            }
            for i in range(10)
        ]
    }
    async with running_ingest(database_url, bus):
        app = create_collector(config(), transport=server.url)
        with serve_in_thread(app) as url:
            async with httpx.AsyncClient(timeout=60) as http:
                for _ in range(2):
                    r = await http.post(
                        f"{url}/v1/batch", content=msgspec.json.encode(batch), headers=AUTH
                    )
                    assert r.json() == {"success": True, "received": 10, "rejected": []}
        await wait_drained(bus)
    assert await db.fetchval("SELECT count(*) FROM analytics_events") == 10
    assert (
        await db.fetchval("SELECT count(*) FROM analytics_events WHERE event_type = 'bus_ride'")
        == 10
    )
