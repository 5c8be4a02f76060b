"""INTERIM HOOK, to delete at merge: the worker delivering through a :class:`Sink`.

Today's ``AnalyticsWorker`` writes through a ``BatchWriter`` over an asyncpg pool; the
worker engineer's branch replaces that with a delivery policy over the ``Sink``
protocol and a factory that calls ``NatsSink.from_config(config)`` when
``AnalyticsConfig.transport`` is a ``nats://`` URL. Until that lands, this subclass lets
the bus be tested end to end (real ``track()`` → real worker with its retry, backoff,
spool and shutdown → NATS) without editing ``ingest/worker.py``: it swaps the writer for
an adapter that forwards to the sink, and the pool for the sink's connection.

It touches the worker's private attributes on purpose and is not exported; once the
factory exists, ``AnalyticsWorker(cfg, ...)`` with ``transport="nats://..."`` replaces
``BusWorker(cfg)`` (tests and benchmarks use it in one helper each).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from ..ingest.encoding import Rejected, Row
from ..ingest.sinks.base import Sink
from ..ingest.sinks.nats import NatsSink
from ..ingest.worker import AnalyticsWorker
from ..ingest.worker_config import WorkerConfig
from ..ingest.writer import WriteResult

__all__ = ["BusWorker"]


class _SinkAsWriter:
    """The two ``BatchWriter`` calls the worker makes, forwarded to a sink."""

    def __init__(self, sink: Sink, default_timeout: float) -> None:
        self._sink = sink
        self._timeout = default_timeout

    async def write(
        self,
        conn: Any,
        rows: Sequence[Row],
        *,
        idempotent: bool,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> WriteResult:
        del conn
        out = await self._sink.deliver(
            rows, redelivery=idempotent, timeout=timeout or self._timeout
        )
        return WriteResult(out.delivered, list(out.refused))

    async def dead_letter(
        self,
        conn: Any,
        rejected: Sequence[Rejected],
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> None:
        del conn
        await self._sink.dead_letter(rejected, timeout=timeout or self._timeout)


class BusWorker(AnalyticsWorker):
    """An ``AnalyticsWorker`` whose batches go to the NATS bus (see module docstring)."""

    def __init__(self, config: WorkerConfig, sink: Sink | None = None) -> None:
        super().__init__(config, pool="postgresql://unused-by-the-bus-worker")
        self.sink: Sink = sink if sink is not None else NatsSink.from_config(config.settings)
        self._writer = _SinkAsWriter(self.sink, config.settings.write_timeout_secs)  # type: ignore[assignment]

    async def _open_pool(self) -> None:
        await self.sink.open()

    async def _close_pool(self) -> None:
        await self.sink.close()

    @contextlib.asynccontextmanager
    async def _connection(self, timeout: float) -> AsyncIterator[Any]:  # noqa: ASYNC109
        del timeout
        yield None
