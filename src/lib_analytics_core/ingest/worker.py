"""The batching loop: drains the client's channel in batches and hands them to delivery.

Owns: when a batch is formed (``batch_size`` events waiting, or the oldest waited
``flush_interval_secs``; under sustained load everything waiting, up to
``max_batch_size``); when a spool replay may run (only with no delivery in flight);
``run()``/``flush()``/``shutdown()``/cancellation with their deadline; ``stats()``.

Must not touch: encoding and the order of deliveries (``processor``); how a batch is
delivered, retried, spooled or dead-lettered (``delivery``); the medium (``sinks``);
files (``spool``); threads or fork hooks (``threaded``, ``fork``). It does not know
whether a thread host runs it.

One implementation serves both kinds of application: asyncio apps ``await
worker.run()``; sync apps use :meth:`AnalyticsWorker.start_in_thread`, which runs this
very coroutine on a private loop (see ``threaded``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from .._errors import WorkerError
from .clock import Clock, LoopClock
from .encoding import Rejected
from .pipeline import build_pipeline
from .processor import BatchProcessor
from .sinks import Sink
from .stats import LogLimiter, ShutdownReport, WorkerStats
from .stop import Stop
from .worker_config import WorkerConfig

if TYPE_CHECKING:
    import asyncpg

    from ..schema.maintainer import MaintainerSchedule
    from .sinks.postgres import PoolFactory
    from .threaded import ThreadedWorker

__all__ = ["AnalyticsWorker"]

logger = logging.getLogger("lib_analytics_core")

#: Upper bound on the idle wait; covers a wake-up lost to a producer race.
_MAX_IDLE_WAIT_SECS = 1.0


class AnalyticsWorker:
    """Drains one client's queue into a sink (PostgreSQL unless ``transport`` says NATS).

    ``pool`` is an ``asyncpg.Pool`` (borrowed, never closed), a DSN string (the worker
    opens and closes its own small pool), or an async callable returning a pool.
    ``sink`` and ``clock`` replace the configured sink and the loop's clock (tests).

    Writing straight to PostgreSQL through a DSN or a pool, the worker also hosts a
    maintainer (``schema/maintainer.py``: one per database is elected, so the
    aggregates stay current with no cron) unless ``AnalyticsConfig.maintainer`` is False
    or ``ANALYTICS_MAINTAINER=off``; ``maintainer_schedule`` shortens its schedule (tests).
    """

    def __init__(
        self,
        config: WorkerConfig,
        pool: asyncpg.Pool[Any] | str | PoolFactory | None = None,
        *,
        sink: Sink | None = None,
        clock: Clock | None = None,
        maintainer_schedule: MaintainerSchedule | None = None,
    ) -> None:
        if not isinstance(config, WorkerConfig):
            raise WorkerError(
                "AnalyticsWorker needs the WorkerConfig returned by AnalyticsClient.new() "
                "or client.worker_config()"
            )
        self._config = config
        self._settings = config.settings
        self._channel = config.channel
        self._clock: Clock = clock or LoopClock()
        s = self._settings
        if sink is None and pool is None and s.transport is None:
            raise WorkerError("AnalyticsWorker needs an asyncpg pool, a DSN or a pool factory")
        # The one assembly (``pipeline``), shared with the collector and the bus consumer.
        parts = build_pipeline(s, pool, sink=sink, clock=self._clock)
        self._counters = parts.counters
        self._spool = parts.spool
        self._sink = parts.sink
        self._policy = parts.policy
        self._pipeline = BatchProcessor(parts.encoder, parts.policy, parts.counters, s.service_name)
        self._wake: asyncio.Event | None = None
        # The stop token: passed to every delivery and replay call, never poked into them.
        self._stop = Stop()
        self._finished: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running = False
        self._pending_since: float | None = None
        # Set while a flush()/shutdown() without a running worker works inline; run()
        # waits for it, so the two never share the sink or a batch.
        self._inline_done: asyncio.Event | None = None
        self._crash_log = LogLimiter(10.0)
        self._maintainer_source = _maintainer_source(s, pool, sink)
        self._maintainer_schedule = maintainer_schedule

    # ------------------------------------------------------------------ public API

    @property
    def settings(self) -> Any:
        return self._settings

    @property
    def running(self) -> bool:
        return self._running

    def stats(self) -> WorkerStats:
        """Counters, queue depth and the last error. Safe from any thread; no I/O."""
        spool = self._spool
        return self._counters.snapshot(
            queue_depth=len(self._channel),
            dropped=self._channel.dropped,
            in_flight=self._pipeline.in_flight,
            spool_corrupt=spool.corrupt_records if spool is not None else 0,
            spool_bytes=spool.disk_bytes if spool is not None else 0,
            spool_failures=spool.failures if spool is not None else 0,
            spool_full=spool.full if spool is not None else False,
        )

    def recent_rejections(self) -> list[Rejected]:
        """The last 100 events refused (by the library or the sink), newest last."""
        return list(self._policy.recent_rejections)

    async def run(self) -> None:
        """Run until :meth:`shutdown` is called; then deliver what is queued and return.

        Cancelling the task running this coroutine is a graceful stop: the worker
        spends up to ``shutdown_timeout_secs`` delivering what is queued, then re-raises
        the cancellation.
        """
        if self._running:
            raise WorkerError("this AnalyticsWorker is already running")
        self._running = True
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._wake = wake = asyncio.Event()
        self._finished = asyncio.Event()

        def waker() -> None:
            loop.call_soon_threadsafe(wake.set)

        self._channel.set_waker(waker)
        if len(self._channel):
            wake.set()
        cancelled = False
        try:
            if self._inline_done is not None:
                await self._inline_done.wait()
            try:
                await self._sink.open()
            except Exception as err:
                # The database is down at start: tracking goes on; the sink reopens lazily.
                self._counters.record_error(err)
                logger.warning("analytics: cannot open the sink yet: %s", self._counters.last_error)
            async with self._maintaining():
                await self._main_loop()
        except asyncio.CancelledError:
            cancelled = True
            self._begin_stop_on_cancel()
        finally:
            try:
                if await self._drain_despite_cancellation():
                    cancelled = True
            finally:
                self._channel.set_waker(None)
                await self._close()
                self._running = False
                self._finished.set()
                self._pipeline.resolve_waiters(force=True)
        if cancelled:
            raise asyncio.CancelledError

    async def flush(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109 - seed API
        """Deliver everything queued right now; True if it was all handled in time.

        "Handled" means delivered, dead-lettered or spooled. Works whether or not
        :meth:`run` is active (without it, the flush is done inline).
        """
        if not self._running:
            return await self._flush_inline(timeout)
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            raise WorkerError("flush() must be awaited on the worker's event loop")
        target = self._counters.taken + len(self._channel)
        if self._pipeline.done_seq >= target:
            return True
        fut = self._pipeline.waiter(target)
        assert self._wake is not None
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(fut), timeout)
        except TimeoutError:
            return False
        return self._pipeline.done_seq >= target

    async def shutdown(self, timeout: float | None = None) -> ShutdownReport:  # noqa: ASYNC109
        """Stop accepting work, deliver what is queued within ``timeout``, and return.

        What cannot be delivered in time goes to the spool (if configured) or is counted
        as lost and reported. Idempotent; safe when :meth:`run` never started. Never
        raises for runtime reasons: an unexpected error is logged and reported as a
        timed-out shutdown.
        """
        c = self._counters
        before = c.written, c.spooled, c.lost
        try:
            timed_out = await self._shutdown(timeout)
        except WorkerError:
            raise
        except Exception:
            logger.exception("analytics: shutdown failed")
            timed_out = True
        report = ShutdownReport(
            written=c.written - before[0],
            spooled=c.spooled - before[1],
            lost=c.lost - before[2],
            timed_out=timed_out,
        )
        if report.lost:
            logger.error(
                "analytics shutdown: %d events could not be written and were lost", report.lost
            )
        return report

    @classmethod
    def start_in_thread(
        cls, config: WorkerConfig, dsn: str | PoolFactory, *, register_atexit: bool = True
    ) -> ThreadedWorker:
        """Run a worker on a private event loop in a daemon thread (sync applications).

        ``dsn`` is a connection string or an async pool factory: asyncpg pools belong
        to the loop that created them, so the thread creates its own. See
        :class:`~lib_analytics_core.ThreadedWorker` (exit and fork hooks included).
        """
        # The host knows the worker, not vice versa: imported only when asked for.
        from .threaded import ThreadedWorker  # noqa: PLC0415

        threaded = ThreadedWorker(config, dsn, register_atexit=register_atexit)
        threaded.start()
        return threaded

    # ------------------------------------------------------------------ the loop

    @contextlib.asynccontextmanager
    async def _maintaining(self) -> AsyncIterator[None]:
        """Run the hosted maintainer beside the loop (see the class docstring); it is
        cancelled, giving its lease back, before the final drain."""
        source = self._maintainer_source
        if source is None:
            yield
            return
        from ..schema.maintainer import hosted_maintainer  # noqa: PLC0415 - asyncpg only

        async with hosted_maintainer(source, host="worker", schedule=self._maintainer_schedule):
            yield

    async def _shutdown(self, timeout: float | None) -> bool:  # noqa: ASYNC109
        budget = self._settings.shutdown_timeout_secs if timeout is None else timeout
        if not self._running:
            # Never started, or already finished: deliver what is queued inline.
            self._stop.request(self._clock.now() + budget)
            return not await self._flush_inline(budget)
        if asyncio.get_running_loop() is not self._loop:
            raise WorkerError("shutdown() must be awaited on the worker's event loop")
        self._stop.request(self._clock.now() + budget)
        assert self._wake is not None and self._finished is not None
        self._wake.set()
        try:
            # The worker itself honours the deadline; the grace covers its bookkeeping.
            await asyncio.wait_for(asyncio.shield(self._finished.wait()), budget + 5.0)
        except TimeoutError:
            return True
        return False

    def _begin_stop_on_cancel(self) -> None:
        # An earlier deadline (shutdown() already called) is kept by the token.
        self._stop.request(self._clock.now() + self._settings.shutdown_timeout_secs)

    async def _drain_despite_cancellation(self) -> bool:
        """Run the final drain to its end; True if we were cancelled meanwhile.

        A second cancellation does not cut the drain short: it is bounded by the
        shutdown deadline anyway, and waiting for it is what keeps the events.
        """
        cancelled = False
        drain = asyncio.ensure_future(self._final_drain())
        while not drain.done():
            try:
                await asyncio.shield(drain)
            except asyncio.CancelledError:
                cancelled = True
                self._begin_stop_on_cancel()
            except Exception:
                logger.exception("analytics: the final drain failed")
                break
        return cancelled

    def _batch_ready(self, now: float) -> bool:
        """Size or age, whichever first (age from when the worker first saw the queue
        non-empty, on the monotonic clock: immune to wall-clock jumps and to
        back-dated events from ``track_at``)."""
        n = len(self._channel)
        if n == 0:
            self._pending_since = None
            return False
        if n >= self._settings.batch_size or self._pipeline.waiters or self._stop.requested:
            return True
        if self._pending_since is None:
            self._pending_since = now
        return now - self._pending_since >= self._settings.flush_interval_secs

    def _idle_timeout(self, now: float) -> float:
        if self._pending_since is None:
            return _MAX_IDLE_WAIT_SECS
        due = self._pending_since + self._settings.flush_interval_secs - now
        return max(0.0, min(due, _MAX_IDLE_WAIT_SECS))

    async def _main_loop(self) -> None:
        while not self._stop.requested:
            try:
                await self._step()
            except Exception as err:
                # Nothing should get here (delivery and encoding contain their own
                # failures); if something does, one bad batch must not end the loop.
                self._counters.record_error(err)
                if self._crash_log.allow():
                    logger.exception("analytics worker: unexpected error; carrying on")
                await self._clock.wait(self._stop.event, 0.1)

    async def _step(self) -> None:
        assert self._wake is not None
        if self._policy.replay_wanted():
            await self._pipeline.wait_for_write()  # a replay never overlaps a live delivery
            await self._policy.replay(self._between_replayed_records, self._stop)
        if self._batch_ready(self._clock.now()):
            self._pending_since = None
            await self._pipeline.process(
                self._channel.take(self._settings.max_batch_size), self._stop, pipelined=True
            )
            return
        self._pipeline.resolve_waiters()
        self._wake.clear()
        now = self._clock.now()
        if self._batch_ready(now) or self._stop.requested:
            return
        await self._clock.wait(self._wake, self._idle_timeout(now))

    async def _between_replayed_records(self) -> None:
        """During a replay, deliver a live batch whenever a full one is waiting."""
        if not self._stop.requested and len(self._channel) >= self._settings.batch_size:
            await self._pipeline.process(
                self._channel.take(self._settings.max_batch_size), self._stop
            )

    async def _final_drain(self) -> None:
        """Deliver everything still queued, within the shutdown deadline.

        Order: the batches already taken (one may have been interrupted mid-delivery by
        a cancellation), then the queue (memory is what an exit loses), then the spool
        if time is left (it is safe on disk anyway).
        """
        self._stop.request()
        await self._pipeline.resume(self._stop)
        while len(self._channel):
            await self._pipeline.process(
                self._channel.take(self._settings.max_batch_size), self._stop
            )
        await self._policy.replay(self._between_replayed_records, self._stop)
        self._pipeline.resolve_waiters()

    async def _flush_inline(self, timeout: float | None) -> bool:  # noqa: ASYNC109
        """Flush without a running worker (``flush``/``shutdown`` before/after ``run``)."""
        self._loop = asyncio.get_running_loop()
        stop = self._stop
        if stop.deadline is None and timeout is not None:
            stop.set_deadline(self._clock.now() + timeout)
        done = self._inline_done = asyncio.Event()
        try:
            await self._pipeline.resume(stop)
            target = self._counters.taken + len(self._channel)
            while len(self._channel) and self._counters.taken < target:
                await self._pipeline.process(
                    self._channel.take(self._settings.max_batch_size), self._stop
                )
            return self._pipeline.done_seq >= target
        finally:
            await self._close()
            if not stop.requested:
                stop.set_deadline(None)
            done.set()

    async def _close(self) -> None:
        try:
            if self._spool is not None:
                await self._spool.close()
        except Exception:
            logger.exception("analytics: closing the spool failed")
        try:
            await self._sink.close()
        except Exception:
            logger.exception("analytics: closing the sink failed")


def _maintainer_source(settings: Any, pool: object, sink: Sink | None) -> Any:
    """What the hosted maintainer connects through: the worker's DSN (a connection of
    its own) or its borrowed pool; None when it hosts none (turned off, another
    transport, a replaced sink, or a pool factory, whose pool the sink owns)."""
    from ..schema.maintainer import maintainer_enabled  # noqa: PLC0415

    if sink is not None or settings.transport is not None:
        return None
    if not maintainer_enabled(settings.maintainer):
        return None
    if isinstance(pool, str):
        return pool
    import asyncpg  # noqa: PLC0415 - only reached with the PostgreSQL sink

    return pool if isinstance(pool, asyncpg.Pool) else None
