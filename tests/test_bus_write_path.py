"""``analytics-ingest`` on the write path's one pipeline (issue 28, item 3), on a real
NATS server: a failed write is counted, logged and backed off by the delivery policy
the worker uses (``DeliveryPolicy.failed``), the messages are nak'ed with that delay
and JetStream's redelivery is the retry; nothing is acknowledged before the rows are
stored, and each row is stored once.

The sink here is an in-memory one that fails its first deliveries (the PostgreSQL
behaviour is covered by test_bus.py and test_poison.py); the broker is real.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator, Sequence

import pytest

from lib_analytics_core import AnalyticsConfig
from lib_analytics_core.bus.ingest import IngestConfig, IngestService
from lib_analytics_core.bus.stream import setup_bus
from lib_analytics_core.ingest.rows import Rejected, Row
from lib_analytics_core.ingest.sinks import SinkOutcome
from lib_analytics_core.ingest.sinks.nats import NatsSink
from tests._bus import bus_for, seq_rows, wait_drained
from tests._faults import wait_until
from tests._nats import NatsServer, nats_server


@pytest.fixture
def server() -> Iterator[NatsServer]:
    with nats_server() as s:
        yield s


class FlakySink:
    """Stores rows in memory (idempotent by event id); its first ``failures``
    deliveries raise, as a database that is down does."""

    name = "flaky"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.stored: dict[uuid.UUID, Row] = {}
        self.redeliveries: list[bool] = []

    async def open(self) -> None:
        return None

    async def deliver(
        self,
        rows: Sequence[Row],
        *,
        redelivery: bool,
        timeout: float,  # noqa: ASYNC109
    ) -> SinkOutcome:
        self.redeliveries.append(redelivery)
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("database unavailable")
        for row in rows:
            self.stored.setdefault(row[1], row)
        return SinkOutcome(len(rows))

    async def dead_letter(self, refused: Sequence[Rejected], *, timeout: float) -> None:  # noqa: ASYNC109
        return None

    async def close(self) -> None:
        return None


async def test_failed_writes_are_the_policys_and_redelivered_by_jetstream(
    server: NatsServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="lib_analytics_core")
    bus = bus_for(server.url)
    await setup_bus(bus)
    rows = seq_rows("shared-policy", 50)
    producer = NatsSink(bus)
    try:
        await producer.deliver(rows, redelivery=False, timeout=30)
    finally:
        await producer.close()
    store = FlakySink(failures=2)
    config = IngestConfig(
        database_url="postgresql://unused@127.0.0.1:1/unused",  # the sink replaces it
        bus=bus,
        settings=AnalyticsConfig(initial_backoff_secs=0.05, max_backoff_secs=0.1),
    )
    service = IngestService(config, sink=store)
    task = asyncio.create_task(service.run())
    try:
        await wait_until(lambda: len(store.stored) == 50, "the rows stored", 60)
        await wait_drained(bus, limit=60)  # acknowledged once stored
    finally:
        service.stop()
        final = await asyncio.wait_for(task, 60)
    assert sorted(store.stored) == sorted(r[1] for r in rows)
    # First delivery, then JetStream's two redeliveries after the naks.
    assert store.redeliveries == [False, True, True]
    assert final.failed_batches == 2 and final.rows_written == 50 and final.healthy
    assert final.redelivered_messages >= 1
    # Counted and logged by the worker's own policy, not by a loop of the consumer's.
    logged = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("analytics delivery to flaky failed") for m in logged), logged
    assert any("writes recovered after 2 failed attempts" in m for m in logged), logged
