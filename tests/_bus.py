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
