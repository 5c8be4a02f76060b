"""``analytics-ingest``: pull batches from the stream, store them, acknowledge after commit.

Each process runs ``concurrency`` pull loops against the one durable consumer that
every replica (process, pod) shares; JetStream hands each message to one loop at a
time. A loop:

1. fetches up to ``fetch_batch`` messages (waiting at most ``fetch_wait_secs``);
2. decodes them (a malformed message is terminated and counted, never retried);
3. writes all their rows in one call to the PostgreSQL sink: COPY on a first delivery,
   the idempotent ``ON CONFLICT DO NOTHING`` insert when any message is a redelivery; rows
   the database refuses are bisected out and, with producer-side dead letters, stored in
   ``analytics_dead_letters``;
4. acknowledges the messages **only after that commit**. If the write fails (database
   down, timeout), nothing is acknowledged: the messages are nak'ed with a backoff delay
   and stay in the stream until the database is back. If the process dies, ``ack_wait``
   expires and another replica gets them. A redelivered message is written
   idempotently, so each event is stored once whatever happens in between.

Steps 2 to 4 are ``settle.py``'s (:class:`~.settle.Settler`); this module runs the
loops, connects, and reports. The write path is the worker's, built by
``ingest.pipeline`` (the PostgreSQL sink and
the delivery policy, without a spool: the stream is this service's buffer). Each write
is one :meth:`DeliveryPolicy.attempt` (rows, then dead letters, nothing acknowledged
unless both are stored); a failure is counted, logged and given its backoff delay by
:meth:`DeliveryPolicy.failed`, the worker's own accounting, and JetStream's redelivery
after that delay is the retry. Errors are classified once (``ingest.errors``, as for
the worker): a transient failure (database down, a timeout) naks with that delay and
the messages wait in the stream, however long the outage. Any other failure — one
the sink could not isolate to rows — is retried a bounded number of times
(``_POISON_DELIVERIES``); after that the fetch is split message by message, and a
message that still fails has its rows dead-lettered with the error and is acknowledged,
so the consumer always settles and the good messages fetched with it are stored once.

While a write runs longer than a third of ``ack_wait`` the loop tells JetStream it is
still working (``in_progress``), so a slow but live write is not handed to a second
replica. ``stop()`` (SIGTERM/SIGINT in the console script) lets each loop finish and
acknowledge its in-flight batch, then closes everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from typing import TYPE_CHECKING, Any

from .._dburl import describe_database_url
from ..ingest.pipeline import build_pipeline
from ..ingest.sinks.base import Sink
from ..ingest.sinks.nats_connect import ConnectionState, connect, redact
from ..ingest.stats import LogLimiter
from ..ingest.stop import Stop
from .config import IngestConfig
from .postgres import ingest_pool
from .settle import MessageCounts, Settler
from .stats import IngestStats
from .stream import ensure_consumer, ensure_stream

if TYPE_CHECKING:
    from nats.aio.client import Client as NATS

__all__ = ["IngestConfig", "IngestService", "run_ingest"]

logger = logging.getLogger("lib_analytics_core")

#: How often lag (consumer info) and rows/s are refreshed for stats().
_REFRESH_SECS = 2.0


class IngestService:
    """N pull loops from the durable consumer into PostgreSQL, in one process."""

    def __init__(self, config: IngestConfig, *, sink: Sink | None = None) -> None:
        self.config = config
        # The one assembly of the write path (``ingest.pipeline``): the PostgreSQL sink
        # (never the bus itself, whatever ANALYTICS_TRANSPORT says) and the worker's
        # delivery policy; no spool, the stream is the buffer; writes cut below ack_wait.
        parts = build_pipeline(
            config.settings,
            ingest_pool(config.database_url, config.settings, pool_size=config.concurrency + 1),
            sink=sink,
            spool=False,
            transport=None,
            write_timeout_secs=config.write_timeout_secs,
        )
        self._sink = parts.sink
        self._policy = parts.policy
        self._c = parts.counters  # rows: the one set of counters, shared with the worker
        self._backoff = parts.policy.backoff  # connect/fetch pauses: the same schedule
        # The policy's stop token: never a deadline here (stop() lets in-flight batches
        # finish; run() abandons them after shutdown_timeout_secs, to be redelivered).
        self._token = Stop()
        self._m = MessageCounts()
        self._state = ConnectionState()
        self._nc: NATS | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._stop_requested = False
        self._lock = threading.Lock()
        self._pending = 0
        self._ack_pending = 0
        self._rate = 0.0
        self._fetch_ok = True
        self._connected_at_stop: bool | None = None
        self._fail_log = LogLimiter(10.0)
        self._settle = Settler(
            config,
            policy=self._policy,
            counters=self._c,
            counts=self._m,
            stop=self._token,
            flush=self._flush,
        )
        self.started = threading.Event()
        """Set once connected with the consumer bound (tests and health checks)."""

    # ------------------------------------------------------------------ public API

    def stats(self) -> IngestStats:
        """Counters, lag and health. Safe to call from any thread."""
        c, m = self._c, self._m
        if self._connected_at_stop is not None:
            connected = self._connected_at_stop  # run() ended: as it was when it stopped
        else:
            connected = self._nc is not None and self._nc.is_connected
        return IngestStats(
            rows_written=c.written,
            dead_lettered=c.rejected,
            messages=m.messages,
            batches=c.batches,
            failed_batches=c.retried,
            redelivered_messages=m.redelivered,
            malformed=m.malformed,
            poisoned=m.poisoned,
            pending=self._pending,
            ack_pending=self._ack_pending,
            rows_per_sec=self._rate,
            connected=connected,
            healthy=connected and c.last_write_ok and self._fetch_ok,
            last_error=c.last_error,
            last_error_at=c.last_error_at or 0.0,
        )

    def stop(self) -> None:
        """Finish in-flight batches, acknowledge them, and return from run().
        Idempotent, and safe from any thread or a signal handler."""
        self._stop_requested = True
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)

    async def run(self) -> IngestStats:
        """Run until stop(); returns the final stats."""
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._connected_at_stop = None
        if self._stop_requested:
            self._stop.set()
        self._log_config()
        try:
            await self._connect()
            if self._stop.is_set():
                return self.stats()
            loops = [
                asyncio.create_task(self._supervised(i), name=f"analytics-ingest-{i}")
                for i in range(self.config.concurrency)
            ]
            refresher = asyncio.create_task(self._refresh_loop())
            self.started.set()
            await self._stop.wait()
            _, still = await asyncio.wait(loops, timeout=self.config.shutdown_timeout_secs)
            for task in still:  # abandoned: their messages are redelivered elsewhere
                task.cancel()
            refresher.cancel()
            await asyncio.gather(*loops, refresher, return_exceptions=True)
        finally:
            self._connected_at_stop = self._nc is not None and self._nc.is_connected
            await self._sink.close()
            nc, self._nc = self._nc, None
            if nc is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(nc.close(), 5.0)
        return self.stats()

    # ------------------------------------------------------------------ internals

    def _log_config(self) -> None:
        """What an operator needs to see at start (never the password)."""
        cfg, bus = self.config, self.config.bus
        logger.info(
            "analytics-ingest: stream %s, consumer %s, %d pull loop(s), fetch %d, "
            "ack_wait %.0fs, NATS %s, database %s",
            bus.stream,
            bus.durable,
            cfg.concurrency,
            bus.fetch_batch,
            bus.ack_wait_secs,
            ", ".join(redact(u) for u in bus.servers),
            describe_database_url(cfg.database_url),
        )

    async def _connect(self) -> None:
        """Connect and bind, retrying with backoff until it works or stop() is called."""
        assert self._stop is not None
        attempt = 0
        while not self._stop.is_set():
            try:
                self._nc = await connect(
                    self.config.bus, name="analytics-ingest", state=self._state
                )
                if self.config.setup:
                    await ensure_stream(self._nc, self.config.bus)
                    await ensure_consumer(self._nc, self.config.bus)
                return
            except Exception as err:
                attempt += 1
                self._record_error(err)
                if self._nc is not None:
                    with contextlib.suppress(Exception):
                        await self._nc.close()
                    self._nc = None
                if self._fail_log.allow():
                    logger.warning("analytics-ingest: cannot start yet: %s", self._c.last_error)
                await self._sleep(self._backoff.delay(attempt))

    async def _supervised(self, index: int) -> None:
        """A pull loop that an unexpected error restarts (after a backoff) rather than
        silently ending while the process looks alive."""
        assert self._stop is not None
        while not self._stop.is_set():
            try:
                await self._pull_loop(index)
            except Exception as err:
                self._fetch_ok = False
                self._record_error(err)
                logger.exception("analytics-ingest[%d]: pull loop failed; restarting", index)
                await self._sleep(self._backoff.delay(self._backoff.failures + 1))

    async def _pull_loop(self, index: int) -> None:
        assert self._nc is not None and self._stop is not None
        bus = self.config.bus
        js = self._nc.jetstream()
        sub = await js.pull_subscribe_bind(durable=bus.durable, stream=bus.stream)
        try:
            while not self._stop.is_set():
                try:
                    msgs = await sub.fetch(bus.fetch_batch, timeout=bus.fetch_wait_secs)
                except TimeoutError:
                    self._fetch_ok = True  # the consumer answered: nothing to do
                    continue
                except Exception as err:
                    # NATS unreachable (reconnecting), stream or consumer missing (not set
                    # up yet, deleted): unhealthy until a fetch works again; back off.
                    self._fetch_ok = False
                    self._record_error(err)
                    if self._fail_log.allow():
                        logger.warning("analytics-ingest[%d]: fetch failed: %s", index, err)
                    await self._sleep(self._backoff.delay(self._backoff.failures + 1))
                    continue
                self._fetch_ok = True
                if msgs:
                    await self._settle.handle(msgs)
                    if self._backoff.failures:
                        await self._sleep(self._backoff.delay(self._backoff.failures))
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _refresh_loop(self) -> None:
        assert self._nc is not None
        bus = self.config.bus
        js = self._nc.jetstream()
        last_t, last_rows = time.monotonic(), self._c.written
        while True:
            await asyncio.sleep(_REFRESH_SECS)
            now, rows = time.monotonic(), self._c.written
            self._rate = (rows - last_rows) / (now - last_t)
            last_t, last_rows = now, rows
            with contextlib.suppress(Exception):
                info: Any = await js.consumer_info(bus.stream, bus.durable, timeout=2.0)
                self._pending = info.num_pending or 0
                self._ack_pending = info.num_ack_pending or 0

    async def _flush(self) -> None:
        """Push the acknowledgements out (the settler's, after a commit)."""
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.flush(timeout=5)

    def _record_error(self, err: BaseException) -> None:
        self._c.record_error(err)

    async def _sleep(self, delay: float) -> None:
        assert self._stop is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), delay)


async def run_ingest(config: IngestConfig, *, handle_signals: bool = False) -> IngestStats:
    """The library entry point of ``analytics-ingest``: run until stopped.

    ``handle_signals`` installs SIGTERM/SIGINT handlers that stop gracefully (finish and
    acknowledge in-flight batches); leave it False when embedding in an application that
    owns its signals, and call :meth:`IngestService.stop` yourself.
    """
    service = IngestService(config)
    if handle_signals:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, service.stop)
    return await service.run()
