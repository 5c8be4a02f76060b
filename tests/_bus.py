"""Shared pieces of the bus tests: rows, an ingest service running in the test's loop,
waiting for the stream to drain, and producer/ingest scripts for subprocesses."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from lib_analytics_core.bus.config import BusConfig
from lib_analytics_core.bus.ingest import IngestConfig, IngestService
from lib_analytics_core.bus.stream import bus_status
from lib_analytics_core.ingest.encoding import Row, uuid7
from tests._faults import wait_until


def seq_rows(run: str, n: int, *, service: str = "svc", start: int = 0, pad: int = 0) -> list[Row]:
    """``n`` rows shaped like the worker's, for SeqEvent ``run`` (seq start..start+n-1)."""
    base = time.time_ns()
    now = dt.datetime.now(dt.UTC)
    return [
        (
            now,
            uuid7(base + i),
            "reliability_seq",
            service,
            None,
            json.dumps({"run": run, "seq": start + i, "pad": "x" * pad}),
        )
        for i in range(n)
    ]


def bus_for(url: str, **overrides: Any) -> BusConfig:
    """Test settings: quick redelivery (ack_wait 3 s) and short fetch waits."""
    values: dict[str, Any] = {"ack_wait_secs": 3.0, "fetch_wait_secs": 0.2}
    values.update(overrides)
    return BusConfig.from_transport(url, **values)


@contextlib.asynccontextmanager
async def running_ingest(
    database_url: str, bus: BusConfig, **options: Any
) -> AsyncIterator[IngestService]:
    """An IngestService running in this loop; stopped (gracefully) on exit."""
    service = IngestService(IngestConfig(database_url=database_url, bus=bus, **options))
    task = asyncio.create_task(service.run())
    try:
        await wait_until(lambda: service.started.is_set() or task.done(), "ingest started", 30)
        if task.done():
            task.result()
        yield service
    finally:
        service.stop()
        await asyncio.wait_for(task, 60)


async def wait_drained(bus: BusConfig, limit: float = 120.0) -> None:
    """Until the stream (work queue) is empty: every message written and acknowledged."""

    async def empty() -> bool:
        status = await bus_status(bus)
        return status.messages == 0 and status.ack_pending == 0

    await wait_until(empty, "the stream to drain", limit)


async def count_run(db: asyncpg.Connection, run: str) -> int:
    n = await db.fetchval(
        "SELECT count(*) FROM analytics_events WHERE event_type = 'reliability_seq' "
        "AND data->>'run' = $1",
        run,
    )
    return int(n)


PRODUCER = r"""
import asyncio, json, sys
from lib_analytics_core import AnalyticsClient
from lib_analytics_core import AnalyticsWorker
from tests._faults import SeqEvent

url, run = sys.argv[1], sys.argv[2]
k, n, pace = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])

async def main():
    client, cfg = AnalyticsClient.new(
        batch_size=500, flush_interval_secs=0.2, transport=url,
        service_name=f"producer-{k}", max_backoff_secs=1.0,
    )
    worker = AnalyticsWorker(cfg)  # transport=nats://... selects the NATS sink
    task = asyncio.create_task(worker.run())
    for i in range(n):
        client.track(SeqEvent(run=run, seq=k * n + i))
        if i % 100 == 99:
            await asyncio.sleep(pace)
    report = await worker.shutdown(120)
    await task
    s = worker.stats()
    print(json.dumps({"tracked": s.tracked, "written": s.written, "dropped": s.dropped,
                      "lost": report.lost, "rejected": s.rejected}), flush=True)

asyncio.run(main())
"""


class Producer:
    """A producer in this loop: a client and the bus worker, tracking SeqEvents."""

    def __init__(self, transport: str, run: str, *, service: str = "producer") -> None:
        from lib_analytics_core import AnalyticsClient, AnalyticsWorker

        self.run = run
        self.client, cfg = AnalyticsClient.new(
            batch_size=200,
            flush_interval_secs=0.1,
            transport=transport,
            service_name=service,
            max_backoff_secs=1.0,
        )
        self.worker = AnalyticsWorker(cfg)
        self.tracked = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> Producer:
        self._task = asyncio.create_task(self.worker.run())
        return self

    async def track(self, n: int, *, pace: float = 0.01) -> None:
        """Track ``n`` more SeqEvents (100 per ``pace`` seconds)."""
        from tests._faults import SeqEvent

        for _ in range(n):
            self.client.track(SeqEvent(run=self.run, seq=self.tracked))
            self.tracked += 1
            if self.tracked % 100 == 0:
                await asyncio.sleep(pace)

    async def finish(self) -> Any:
        report = await self.worker.shutdown(120)
        assert self._task is not None
        await self._task
        stats = self.worker.stats()
        assert report.lost == 0 and stats.dropped == 0 and stats.written == self.tracked, (
            report,
            stats,
        )
        return stats
