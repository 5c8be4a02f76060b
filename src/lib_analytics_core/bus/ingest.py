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

While a write runs longer than a third of ``ack_wait`` the loop tells JetStream it is
still working (``in_progress``), so a slow but live write is not handed to a second
replica. ``stop()`` (SIGTERM/SIGINT in the console script) lets each loop finish and
acknowledge its in-flight batch, then closes everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._errors import BusError
from ..ingest.encoding import Rejected, Row
from ..ingest.sinks.base import Sink
from ..ingest.stats import LogLimiter
from .config import IngestConfig
from .connect import ConnectionState, connect
from .postgres import postgres_sink
from .stats import IngestStats
from .stream import ensure_consumer, ensure_stream
from .wire import decode_rejected, decode_rows

if TYPE_CHECKING:
    from nats.aio.client import Client as NATS
    from nats.aio.msg import Msg

__all__ = ["IngestConfig", "IngestService", "run_ingest"]

logger = logging.getLogger("lib_analytics_core")

#: How often lag (consumer info) and rows/s are refreshed for stats().
_REFRESH_SECS = 2.0


class _Counters:
    __slots__ = (
        "batches",
        "dead_lettered",
        "failed_batches",
        "last_error",
        "last_error_at",
        "last_write_ok",
        "malformed",
        "messages",
        "redelivered",
        "rows_written",
    )

    def __init__(self) -> None:
        self.rows_written = 0
        self.dead_lettered = 0
        self.messages = 0
        self.batches = 0
        self.failed_batches = 0
        self.redelivered = 0
        self.malformed = 0
        self.last_error: str | None = None
        self.last_error_at = 0.0
        self.last_write_ok = True


class IngestService:
    """N pull loops from the durable consumer into PostgreSQL, in one process."""

    def __init__(self, config: IngestConfig, *, sink: Sink | None = None) -> None:
        self.config = config
        self._sink = sink or postgres_sink(
            config.database_url, config.settings, pool_size=config.concurrency + 1
        )
        self._c = _Counters()
        self._state = ConnectionState()
        self._nc: NATS | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._stop_requested = False
        self._lock = threading.Lock()
        self._pending = 0
        self._ack_pending = 0
        self._rate = 0.0
        self._failures = 0
        self._fetch_ok = True
        self._rng = random.Random()  # noqa: S311 - backoff jitter
        self._fail_log = LogLimiter(10.0)
        self._malformed_log = LogLimiter(10.0)
        self._malformed: list[tuple[Msg, BusError]] = []
        self.started = threading.Event()
        """Set once connected with the consumer bound (tests and health checks)."""

    # ------------------------------------------------------------------ public API

    def stats(self) -> IngestStats:
        """Counters, lag and health. Safe to call from any thread."""
        c = self._c
        connected = self._nc is not None and self._nc.is_connected
        return IngestStats(
            rows_written=c.rows_written,
            dead_lettered=c.dead_lettered,
            messages=c.messages,
            batches=c.batches,
            failed_batches=c.failed_batches,
            redelivered_messages=c.redelivered,
            malformed=c.malformed,
            pending=self._pending,
            ack_pending=self._ack_pending,
            rows_per_sec=self._rate,
            connected=connected,
            healthy=connected and c.last_write_ok and self._fetch_ok,
            last_error=c.last_error,
            last_error_at=c.last_error_at,
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
        if self._stop_requested:
            self._stop.set()
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
            await self._sink.close()
            nc, self._nc = self._nc, None
            if nc is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(nc.close(), 5.0)
        return self.stats()

    # ------------------------------------------------------------------ internals

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
                await self._sleep(self._backoff(attempt))

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
                await self._sleep(self._backoff(self._failures + 1))

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
                    await self._sleep(self._backoff(self._failures + 1))
                    continue
                self._fetch_ok = True
                if msgs:
                    await self._handle(msgs)
                    if self._failures:
                        await self._sleep(self._backoff(self._failures))
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _decode(
        self, msgs: Sequence[Msg]
    ) -> tuple[list[Row], list[Rejected], list[Msg], bool]:
        """Rows, producer dead letters, decodable messages, and whether any is redelivered."""
        rows: list[Row] = []
        refused: list[Rejected] = []
        good: list[Msg] = []
        redelivery = False
        dl_prefix = self.config.bus.dead_letter_prefix + "."
        for msg in msgs:
            try:
                if msg.subject.startswith(dl_prefix):
                    refused.extend(decode_rejected(msg.data))
                else:
                    rows.extend(decode_rows(msg.data))
            except BusError as err:
                self._malformed.append((msg, err))
                continue
            good.append(msg)
            if msg.metadata.num_delivered > 1:
                redelivery = True
                self._c.redelivered += 1
            await asyncio.sleep(0)  # ~10 ms of decoding per message: let the others run
        return rows, refused, good, redelivery

    async def _handle(self, msgs: Sequence[Msg]) -> None:
        """One batch: decode, write, dead-letter, then ack (or nak on failure)."""
        rows, refused, good, redelivery = await self._decode(msgs)
        while self._malformed:
            await self._terminate(*self._malformed.pop())
        if not good:
            return
        timeout = self.config.write_timeout_secs
        keepalive = asyncio.create_task(self._keep_alive(good))
        try:
            outcome = await self._sink.deliver(rows, redelivery=redelivery, timeout=timeout)
            refused.extend(outcome.refused)
            if refused:
                await self._sink.dead_letter(refused, timeout=timeout)
        except Exception as err:
            await self._failed(good, len(rows), err)
            return
        finally:
            keepalive.cancel()
        # Committed: only now acknowledge. A lost ack means one more (idempotent) delivery.
        for msg in good:
            with contextlib.suppress(Exception):
                await msg.ack()
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.flush(timeout=5)
        if self._failures:
            logger.warning("analytics-ingest: writes recovered after %d failures", self._failures)
            self._fail_log.reset()
        self._failures = 0
        c = self._c
        c.last_write_ok = True
        c.rows_written += outcome.delivered
        c.dead_lettered += len(refused)
        c.messages += len(good)
        c.batches += 1

    async def _failed(self, msgs: Sequence[Msg], rows: int, err: BaseException) -> None:
        """Not stored: acknowledge nothing; ask for redelivery after a backoff delay."""
        c = self._c
        c.failed_batches += 1
        c.last_write_ok = False
        self._failures += 1
        self._record_error(err)
        delay = self._backoff(self._failures)
        if self._fail_log.allow():
            logger.warning(
                "analytics-ingest: write of %d rows failed (%d consecutive, %d similar "
                "messages suppressed); not acknowledged, redelivered in %.1fs: %s",
                rows,
                self._failures,
                self._fail_log.take_suppressed(),
                delay,
                c.last_error,
            )
        for msg in msgs:
            with contextlib.suppress(Exception):
                await msg.nak(delay=delay)

    async def _keep_alive(self, msgs: Sequence[Msg]) -> None:
        """Tell JetStream a long write is still alive, so it does not redeliver it."""
        interval = self.config.bus.ack_wait_secs / 3
        while True:
            await asyncio.sleep(interval)
            for msg in msgs:
                with contextlib.suppress(Exception):
                    await msg.in_progress()

    async def _terminate(self, msg: Msg, err: BaseException) -> None:
        self._c.malformed += 1
        self._record_error(err)
        if self._malformed_log.allow():
            logger.error(
                "analytics-ingest: terminated a malformed message on %s (stream seq %s): %s; "
                "%d similar messages suppressed",
                msg.subject,
                getattr(msg.metadata.sequence, "stream", "?"),
                err,
                self._malformed_log.take_suppressed(),
            )
        with contextlib.suppress(Exception):
            await msg.term()

    async def _refresh_loop(self) -> None:
        assert self._nc is not None
        bus = self.config.bus
        js = self._nc.jetstream()
        last_t, last_rows = time.monotonic(), self._c.rows_written
        while True:
            await asyncio.sleep(_REFRESH_SECS)
            now, rows = time.monotonic(), self._c.rows_written
            self._rate = (rows - last_rows) / (now - last_t)
            last_t, last_rows = now, rows
            with contextlib.suppress(Exception):
                info: Any = await js.consumer_info(bus.stream, bus.durable, timeout=2.0)
                self._pending = info.num_pending or 0
                self._ack_pending = info.num_ack_pending or 0

    def _record_error(self, err: BaseException) -> None:
        # Driver messages carry no credentials; the DSN is never logged.
        self._c.last_error = f"{type(err).__name__}: {err}"[:500]
        self._c.last_error_at = time.time()

    def _backoff(self, attempt: int) -> float:
        s = self.config.settings
        ceiling = min(s.max_backoff_secs, s.initial_backoff_secs * 2.0 ** min(attempt - 1, 30))
        return float(ceiling * (0.5 + self._rng.random() / 2))

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
