"""The background worker: drains the client's queue in batches and writes them.

One implementation serves both kinds of application. The worker is an asyncio
coroutine (``await worker.run()``); a sync application (Flask, Django, Celery) runs the
very same coroutine on a private event loop in a daemon thread via
:meth:`AnalyticsWorker.start_in_thread`, whose ``flush()``/``shutdown()`` are plain
blocking calls that forward to the loop with ``run_coroutine_threadsafe``. Nothing about
batching, retrying or encoding is written twice.

Batching rule: a batch is written when ``batch_size`` events are waiting, or when the
oldest waiting event has waited ``flush_interval_secs``, whichever comes first. Under
sustained load the worker takes everything waiting, up to ``max_batch_size``, so it
writes larger batches instead of falling behind.

Failure rule: a failed write keeps its batch and is retried with exponential backoff
and jitter, through the idempotent INSERT path (see ``_writer``), until it succeeds,
until it is moved to the spool (when one is configured), or until shutdown's deadline.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import logging
import os
import random
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from .._errors import WorkerError
from .channel import QueuedEvent, on_fork_in_child
from .encoding import EncodedBatch, Rejected, Row, RowEncoder
from .spool import Spool
from .stats import LogLimiter, WorkerStats
from .worker_config import WorkerConfig
from .writer import BatchWriter, Conn

__all__ = ["AnalyticsWorker", "ShutdownReport", "ThreadedWorker"]

logger = logging.getLogger("lib_analytics_core")

PoolFactory = Callable[[], Awaitable["asyncpg.Pool[Any]"]]

#: Events encoded between two yields to the event loop, so a large batch never blocks
#: the application's loop for more than a millisecond or so.
_ENCODE_CHUNK = 1_000
#: Upper bound on the idle wait; covers a wake-up lost to a producer race.
_MAX_IDLE_WAIT_SECS = 1.0
#: Bound on closing an owned pool: a connection that does not answer a polite close
#: in this time is terminated (a blackholed network must not stall shutdown).
_POOL_CLOSE_SECS = 1.0
#: Smallest statement timeout used near a shutdown deadline (a zero timeout would
#: fail even against a healthy database).
_MIN_OP_TIMEOUT_SECS = 0.05


@dataclass(frozen=True, slots=True)
class ShutdownReport:
    """What shutdown achieved: how many events were written, spooled, or given up on."""

    written: int
    spooled: int
    lost: int
    timed_out: bool


class _Batch:
    """One batch between ``take()`` and its outcome (written, dead-lettered, spooled,
    lost). ``queued`` until encoded, then ``rows``/``rejected``; ``attempted`` once a
    write may have reached the server (its retry must then be idempotent)."""

    __slots__ = ("attempted", "n", "queued", "rejected", "rows")

    def __init__(self, queued: list[QueuedEvent]) -> None:
        self.n = len(queued)
        self.queued: list[QueuedEvent] | None = queued
        self.rows: list[Row] = []
        self.rejected: list[Rejected] = []
        self.attempted = False


class _Counters:
    __slots__ = (
        "batches",
        "hook_dropped",
        "last_error",
        "last_error_at",
        "lost",
        "rejected",
        "replayed",
        "retried",
        "sampled_out",
        "spooled",
        "taken",
        "written",
    )

    def __init__(self) -> None:
        self.taken = 0
        self.written = 0
        self.retried = 0
        self.rejected = 0
        self.spooled = 0
        self.replayed = 0
        self.lost = 0
        self.sampled_out = 0
        self.hook_dropped = 0
        self.batches = 0
        self.last_error: str | None = None
        self.last_error_at: float | None = None


class AnalyticsWorker:
    """Drains one client's queue into PostgreSQL.

    ``pool`` is an ``asyncpg.Pool`` (the worker borrows one connection per write and
    never closes the pool), a DSN string (the worker opens and closes its own small
    pool), or an async callable returning a pool.
    """

    def __init__(
        self,
        config: WorkerConfig,
        pool: asyncpg.Pool[Any] | str | PoolFactory,
    ) -> None:
        if not isinstance(config, WorkerConfig):
            raise WorkerError(
                "AnalyticsWorker needs the WorkerConfig returned by AnalyticsClient.new() "
                "or client.worker_config()"
            )
        self._config = config
        self._settings = config.settings
        self._channel = config.channel
        self._pool_arg = pool
        self._encoder = RowEncoder(self._settings)
        self._writer = BatchWriter(
            schema=self._settings.schema,
            table=self._settings.table,
            write_method=self._settings.write_method,
            timeout=self._settings.write_timeout_secs,
        )
        self._spool = (
            Spool(self._settings.spool_dir, max_bytes=self._settings.spool_max_bytes)
            if (self._settings.spool_dir is not None)
            else None
        )
        self._counters = _Counters()
        self._in_flight = 0
        self._done_seq = 0
        self._recent_rejections: deque[Rejected] = deque(maxlen=100)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stop: asyncio.Event | None = None
        self._finished: asyncio.Event | None = None
        self._running = False
        self._stop_requested = False
        self._deadline: float | None = None
        self._flush_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._pool: asyncpg.Pool[Any] | None = None
        self._owns_pool = False
        self._rng = random.Random()  # noqa: S311 - backoff jitter
        self._db_down_until = 0.0
        self._failures = 0  # consecutive failed attempts, across batches: drives backoff
        self._pending_since: float | None = None
        # Batches taken from the queue and not yet handled, oldest first (at most two:
        # one being written while the next is encoded). Kept until handled, so a
        # cancellation in the middle of a write loses none of them: the final drain
        # writes what is left, idempotently.
        self._batches: deque[_Batch] = deque()
        self._write_task: asyncio.Task[None] | None = None
        self._replay_progress: dict[str, int] = {}
        # Set while a flush()/shutdown() without a running worker is writing inline;
        # run() waits for it, so the two never share the pool or a batch.
        self._inline_done: asyncio.Event | None = None
        self._fail_log = LogLimiter(10.0)
        self._spool_log = LogLimiter(30.0)
        self._reject_log = LogLimiter(10.0)

    # ------------------------------------------------------------------ public API

    @property
    def settings(self) -> Any:
        return self._settings

    def stats(self) -> WorkerStats:
        """Counters, queue depth and the last error. Safe to call from any thread."""
        c = self._counters
        depth = len(self._channel)
        dropped = self._channel.dropped
        return WorkerStats(
            tracked=c.taken + depth + dropped,
            written=c.written,
            dropped=dropped,
            retried=c.retried,
            rejected=c.rejected,
            spooled=c.spooled,
            replayed=c.replayed,
            lost=c.lost,
            sampled_out=c.sampled_out,
            hook_dropped=c.hook_dropped,
            batches=c.batches,
            queue_depth=depth,
            in_flight=self._in_flight,
            last_error=c.last_error,
            last_error_at=c.last_error_at,
            spool_corrupt=self._spool.corrupt_records if self._spool is not None else 0,
            spool_bytes=self._spool.disk_usage() if self._spool is not None else 0,
        )

    def recent_rejections(self) -> list[Rejected]:
        """The last 100 events refused (by the library or the database), newest last."""
        return list(self._recent_rejections)

    @property
    def running(self) -> bool:
        return self._running

    async def run(self) -> None:
        """Run until :meth:`shutdown` is called; then write what is queued and return.

        Cancelling the task running this coroutine is treated as a graceful stop: the
        worker spends up to ``shutdown_timeout_secs`` writing what is queued, then
        re-raises the cancellation.
        """
        if self._running:
            raise WorkerError("this AnalyticsWorker is already running")
        self._running = True
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._finished = asyncio.Event()
        wake = self._wake

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
                await self._open_pool()
            except Exception as err:
                # A pool factory that connects eagerly while the database is down: the
                # worker still runs (tracking goes on) and reopens the pool lazily.
                self._record_error(err)
                logger.warning("analytics: cannot open the pool yet: %s", self._counters.last_error)
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
                if self._spool is not None:
                    self._spool.close()
                await self._close_pool()
                self._running = False
                self._finished.set()
                self._resolve_flush_waiters(force=True)
        if cancelled:
            raise asyncio.CancelledError

    async def flush(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109 - seed API
        """Write everything queued right now; True if it was all handled in time.

        "Handled" means written, dead-lettered or spooled. Works whether or not
        :meth:`run` is active (without it, the flush is done inline).
        """
        if not self._running:
            return await self._flush_inline(timeout)
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            raise WorkerError("flush() must be awaited on the worker's event loop")
        target = self._counters.taken + len(self._channel)
        if self._done_seq >= target:
            return True
        fut: asyncio.Future[None] = loop.create_future()
        self._flush_waiters.append((target, fut))
        assert self._wake is not None
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(fut), timeout)
        except TimeoutError:
            return False
        return self._done_seq >= target

    async def shutdown(self, timeout: float | None = None) -> ShutdownReport:  # noqa: ASYNC109
        """Stop accepting work, write what is queued within ``timeout``, and return.

        What cannot be written in time goes to the spool (if configured) or is counted
        as lost and reported. Idempotent; safe to call when :meth:`run` never started.
        """
        budget = self._settings.shutdown_timeout_secs if timeout is None else timeout
        before = self._counters.written, self._counters.spooled, self._counters.lost
        loop = asyncio.get_running_loop()
        if not self._running:
            # Never started, or already finished: write what is queued inline.
            self._deadline = loop.time() + budget
            self._stop_requested = True
            timed_out = not await self._flush_inline(budget)
            return self._report(before, timed_out)
        if loop is not self._loop:
            raise WorkerError("shutdown() must be awaited on the worker's event loop")
        if self._deadline is None or loop.time() + budget < self._deadline:
            self._deadline = loop.time() + budget
        self._stop_requested = True
        assert self._wake is not None and self._stop is not None and self._finished is not None
        self._stop.set()
        self._wake.set()
        timed_out = False
        try:
            # The worker itself honours the deadline; the grace covers its bookkeeping.
            await asyncio.wait_for(asyncio.shield(self._finished.wait()), budget + 5.0)
        except TimeoutError:
            timed_out = True
        report = self._report(before, timed_out)
        if report.lost:
            logger.error(
                "analytics shutdown: %d events could not be written and were lost", report.lost
            )
        return report

    @classmethod
    def start_in_thread(
        cls,
        config: WorkerConfig,
        dsn: str | PoolFactory,
        *,
        register_atexit: bool = True,
    ) -> ThreadedWorker:
        """Run a worker on a private event loop in a daemon thread (sync applications).

        ``dsn`` is a connection string or an async pool factory: asyncpg pools belong
        to the loop that created them, so the thread creates its own. Returns a
        :class:`ThreadedWorker` with blocking ``flush()``/``shutdown()``. An ``atexit``
        hook shuts it down (bounded by ``shutdown_timeout_secs``) if you forget, and a
        fork hook starts a fresh worker in forked children (gunicorn, Celery prefork).
        """
        threaded = ThreadedWorker(config, dsn, register_atexit=register_atexit)
        threaded.start()
        return threaded

    # ------------------------------------------------------------------ internals

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
        if not drain.cancelled() and drain.exception() is not None:
            logger.error("analytics worker: final drain failed", exc_info=drain.exception())
        return cancelled

    def _begin_stop_on_cancel(self) -> None:
        self._stop_requested = True
        if self._deadline is None and self._loop is not None:
            self._deadline = self._loop.time() + self._settings.shutdown_timeout_secs

    def _report(self, before: tuple[int, int, int], timed_out: bool) -> ShutdownReport:
        c = self._counters
        return ShutdownReport(
            written=c.written - before[0],
            spooled=c.spooled - before[1],
            lost=c.lost - before[2],
            timed_out=timed_out,
        )

    async def _open_pool(self) -> None:
        arg = self._pool_arg
        if isinstance(arg, asyncpg.Pool):
            self._pool = arg
            self._owns_pool = False
        elif isinstance(arg, str):
            # min_size=0: starting the worker never needs the database to be up.
            # command_timeout also bounds asyncpg's own background query cancellation.
            self._pool = await asyncpg.create_pool(
                arg,
                min_size=0,
                max_size=1,
                command_timeout=self._settings.write_timeout_secs,
                server_settings={"application_name": "lib-analytics-core worker"},
            )
            self._owns_pool = True
        else:
            self._pool = await arg()
            self._owns_pool = True

    async def _close_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None and self._owns_pool:
            try:
                await asyncio.wait_for(pool.close(), _POOL_CLOSE_SECS)
            except (Exception, asyncio.CancelledError):
                pool.terminate()

    def _batch_ready(self, now: float) -> bool:
        """Size or age, whichever first (age measured from when the worker first saw the
        queue non-empty, on the monotonic clock: immune to wall-clock jumps and to
        back-dated events from ``track_at``)."""
        n = len(self._channel)
        if n == 0:
            self._pending_since = None
            return False
        if n >= self._settings.batch_size or self._flush_waiters or self._stop_requested:
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
        assert self._wake is not None
        wake = self._wake
        monotonic = time.monotonic
        while not self._stop_requested:
            await self._maybe_replay_spool()
            if self._batch_ready(monotonic()):
                self._pending_since = None
                await self._process(
                    self._channel.take(self._settings.max_batch_size), pipelined=True
                )
                continue
            self._resolve_flush_waiters()
            wake.clear()
            now = monotonic()
            if self._batch_ready(now) or self._stop_requested:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), self._idle_timeout(now))

    async def _final_drain(self) -> None:
        """Write everything still queued, within the shutdown deadline.

        Order: the batches already taken (one may have been interrupted mid-write by a
        cancellation), then the queue (memory is what an exit loses), then the spool if
        time is left (it is safe on disk anyway).
        """
        self._stop_requested = True
        await self._resume_batches()
        while len(self._channel):
            await self._process(self._channel.take(self._settings.max_batch_size))
        await self._maybe_replay_spool()
        self._resolve_flush_waiters()

    async def _wait_for_write(self) -> None:
        """Wait for the write in flight, if any (shielded: cancelling the waiter must
        not cancel the write; the batch stays in ``_batches`` until it is handled)."""
        task = self._write_task
        if task is None:
            return
        if not task.done():
            await asyncio.shield(task)
        self._write_task = None
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]

    async def _resume_batches(self) -> None:
        """Handle, in order, every batch taken but not yet handled."""
        try:
            await self._wait_for_write()
        except Exception:  # the batch is still in _batches; it is written below
            logger.debug("analytics: in-flight write failed before the drain", exc_info=True)
        self._write_task = None
        while self._batches:
            batch = self._batches[0]
            if batch.queued is not None:
                await self._encode_batch(batch)
            await self._write_batch(batch)

    async def _flush_inline(self, timeout: float | None) -> bool:  # noqa: ASYNC109
        """Flush without a running worker (``flush``/``shutdown`` before/after ``run``)."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        if self._deadline is None and timeout is not None:
            self._deadline = loop.time() + timeout
        if self._stop is None:
            self._stop = asyncio.Event()
        done = self._inline_done = asyncio.Event()
        try:
            await self._resume_batches()
            target = self._counters.taken + len(self._channel)
            while len(self._channel) and self._counters.taken < target:
                await self._process(self._channel.take(self._settings.max_batch_size))
            return self._done_seq >= target
        finally:
            if self._spool is not None:
                self._spool.close()
            await self._close_pool()
            if not self._stop_requested:
                self._deadline = None
            done.set()

    def _resolve_flush_waiters(self, *, force: bool = False) -> None:
        if not self._flush_waiters:
            return
        remaining = []
        for target, fut in self._flush_waiters:
            if fut.done():
                continue
            if force or self._done_seq >= target:
                fut.set_result(None)
            else:
                remaining.append((target, fut))
        self._flush_waiters = remaining

    async def _encode(self, queued: list[QueuedEvent]) -> EncodedBatch:
        if len(queued) <= _ENCODE_CHUNK:
            return self._encoder.encode(queued)
        total = EncodedBatch([], [])
        for start in range(0, len(queued), _ENCODE_CHUNK):
            part = self._encoder.encode(queued[start : start + _ENCODE_CHUNK])
            total.rows.extend(part.rows)
            total.rejected.extend(part.rejected)
            total.sampled_out += part.sampled_out
            total.hook_dropped += part.hook_dropped
            await asyncio.sleep(0)
        return total

    async def _process(self, queued: list[QueuedEvent], *, pipelined: bool = False) -> None:
        """Encode and write one batch taken from the queue.

        ``pipelined``: return once the write has started, so the next batch is encoded
        while this one's COPY is in flight (the server is the slower side; the two
        overlap instead of adding up). Writes still happen one at a time, in take order.
        """
        batch = _Batch(queued)
        self._counters.taken += batch.n
        self._batches.append(batch)
        self._in_flight += batch.n
        await self._encode_batch(batch)
        await self._wait_for_write()
        if pipelined:
            self._write_task = asyncio.ensure_future(self._write_batch(batch))
        else:
            await self._write_batch(batch)

    async def _encode_batch(self, batch: _Batch) -> None:
        assert batch.queued is not None
        encoded = await self._encode(batch.queued)
        batch.rows, batch.rejected, batch.queued = encoded.rows, encoded.rejected, None
        self._counters.sampled_out += encoded.sampled_out
        self._counters.hook_dropped += encoded.hook_dropped

    async def _write_batch(self, batch: _Batch) -> None:
        """Write the oldest unhandled batch; then it is handled (written, dead-lettered,
        spooled or, at the shutdown deadline, counted as lost)."""
        idempotent = batch.attempted
        batch.attempted = True
        await self._write_with_retry(
            batch.rows, batch.rejected, replay=False, idempotent=idempotent
        )
        # Not in a finally: if this is cancelled the batch stays for the drain.
        if self._batches and self._batches[0] is batch:
            self._batches.popleft()
        self._in_flight -= batch.n
        self._done_seq += batch.n
        self._resolve_flush_waiters()

    def _deadline_passed(self) -> bool:
        return (
            self._deadline is not None
            and self._loop is not None
            and self._loop.time() >= self._deadline
        )

    def _record_error(self, err: BaseException) -> None:
        c = self._counters
        # Driver messages carry no credentials; the DSN is never logged.
        c.last_error = f"{type(err).__name__}: {err}"[:500]
        c.last_error_at = time.time()

    def _circuit_open(self) -> bool:
        return time.monotonic() < self._db_down_until

    def _op_timeout(self) -> float:
        """The write timeout, shortened so no single attempt outlives the deadline."""
        timeout = self._settings.write_timeout_secs
        if self._deadline is not None and self._loop is not None:
            remaining = self._deadline - self._loop.time()
            timeout = max(_MIN_OP_TIMEOUT_SECS, min(timeout, remaining))
        return timeout

    @contextlib.asynccontextmanager
    async def _connection(self, timeout: float) -> AsyncIterator[Conn]:  # noqa: ASYNC109
        """Borrow a connection for one attempt; a failed attempt's connection is
        terminated, never returned for reuse (its state is unknown, and a polite
        release over a blackholed network would wait forever)."""
        if self._pool is None:
            await self._open_pool()
        pool = self._pool
        assert pool is not None
        conn = await _acquire_fork_safely(pool, timeout)
        try:
            yield conn
        except BaseException:
            conn.terminate()
            raise
        finally:
            try:
                await pool.release(conn, timeout=timeout)
            except Exception:
                conn.terminate()

    def _on_failure(self, err: BaseException, rows: int) -> float:
        """Count and (rate-limited) log one failed attempt; return the backoff delay."""
        self._counters.retried += 1
        self._failures += 1
        self._record_error(err)
        delay = self._backoff_delay(self._failures)
        self._db_down_until = time.monotonic() + delay
        if self._fail_log.allow():
            logger.warning(
                "analytics write failed (%d consecutive failures, batch of %d rows, "
                "%d similar messages suppressed); retrying in %.2fs: %s",
                self._failures,
                rows,
                self._fail_log.take_suppressed(),
                delay,
                self._counters.last_error,
            )
        return delay

    def _on_success(self) -> None:
        if self._failures:
            logger.warning("analytics writes recovered after %d failed attempts", self._failures)
            self._fail_log.reset()
        self._failures = 0
        self._db_down_until = 0.0

    def _give_up(self, rows: list[Row], rejected: list[Rejected]) -> None:
        """The shutdown deadline passed: spool what can be spooled, count the rest."""
        if rows and not (self._spool is not None and self._spool_rows(rows, rejected)):
            self._counters.lost += len(rows)
            logger.error("analytics: giving up on %d events at the shutdown deadline", len(rows))
            rows = []
        if rejected and not rows:
            self._give_up_dead_letters(rejected, TimeoutError("shutdown deadline"))

    async def _write_with_retry(
        self,
        rows: list[Row],
        rejected: list[Rejected],
        *,
        replay: bool,
        idempotent: bool = False,
    ) -> bool:
        """Store ``rows`` (and dead-letter ``rejected``). True when stored.

        False means the rows went to the spool or were given up on at the deadline
        (or, for a replay, that the database is still unavailable: the rows stay on
        disk). Every attempt is bounded by ``write_timeout_secs`` and by the deadline.
        """
        attempt = 0
        pending_rejected = list(rejected)
        while True:
            if self._deadline_passed():
                if not replay:
                    self._give_up(rows, pending_rejected)
                return False
            if (
                rows
                and not replay
                and not self._stop_requested  # at shutdown, try for real until the deadline
                and self._spool is not None
                and self._circuit_open()
                and self._spool_rows(rows, pending_rejected)
            ):
                # Circuit open: the database failed moments ago. Spooled straight away
                # instead of waiting on a connect timeout per batch.
                return False
            timeout = self._op_timeout()
            try:
                async with self._connection(timeout) as conn:
                    if rows:
                        result = await self._writer.write(
                            conn,
                            rows,
                            idempotent=replay or idempotent or attempt > 0,
                            timeout=timeout,
                        )
                        pending_rejected.extend(result.rejected)
                        rows = []  # stored; a dead-letter failure must not rewrite them
                        if replay:
                            self._counters.replayed += result.written
                        else:
                            self._counters.written += result.written
                        self._counters.batches += 1
                    if pending_rejected:
                        await self._dead_letter(conn, pending_rejected, timeout)
                        pending_rejected = []
                self._on_success()
                return True
            except Exception as err:
                attempt += 1
                delay = self._on_failure(err, len(rows))
                outcome = self._after_failed_attempt(err, rows, pending_rejected, attempt, replay)
                if outcome is not None:
                    return outcome
                await self._sleep(delay)

    def _after_failed_attempt(
        self,
        err: BaseException,
        rows: list[Row],
        rejected: list[Rejected],
        attempt: int,
        replay: bool,
    ) -> bool | None:
        """What a failed attempt leads to: a final outcome, or None to retry."""
        if not rows and not _is_connection_error(err):
            # Only the dead-letter insert fails, and not for want of a connection
            # (the table is missing, permissions): report instead of retrying forever.
            self._give_up_dead_letters(rejected, err)
            return True
        if replay:
            return False
        if (
            rows
            and self._spool is not None
            and attempt >= self._settings.spool_after_failures
            and self._spool_rows(rows, rejected)
        ):
            return False
        return None

    async def _dead_letter(
        self,
        conn: Conn,
        rejected: list[Rejected],
        timeout: float,  # noqa: ASYNC109
    ) -> None:
        await self._writer.dead_letter(conn, rejected, timeout)
        self._counters.rejected += len(rejected)
        self._recent_rejections.extend(rejected)
        if self._reject_log.allow():
            first = rejected[0]
            logger.warning(
                "analytics: %d event(s) refused and dead-lettered (e.g. %s %s: %s); "
                "%d similar messages suppressed",
                len(rejected),
                first.event_type,
                first.event_id,
                first.error[:200],
                self._reject_log.take_suppressed(),
            )

    def _give_up_dead_letters(self, rejected: list[Rejected], err: BaseException) -> None:
        if not rejected:
            return
        self._counters.rejected += len(rejected)
        self._recent_rejections.extend(rejected)
        logger.error(
            "analytics: could not store %d rejected events in the dead-letter table (%s); "
            "they are kept in worker.recent_rejections()",
            len(rejected),
            type(err).__name__,
        )

    def _backoff_delay(self, attempt: int) -> float:
        s = self._settings
        ceiling = min(s.max_backoff_secs, s.initial_backoff_secs * (2.0 ** min(attempt - 1, 30)))
        return float(ceiling * (0.5 + self._rng.random() / 2))  # "equal jitter"

    async def _sleep(self, delay: float) -> None:
        """Back off, but wake at once for shutdown and never sleep past its deadline."""
        if self._deadline is not None and self._loop is not None:
            delay = max(0.0, min(delay, self._deadline - self._loop.time()))
        stop = self._stop
        if stop is None or self._stop_requested:
            await asyncio.sleep(delay)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)

    def _spool_rows(self, rows: list[Row], rejected: list[Rejected]) -> bool:
        assert self._spool is not None
        if self._spool.append(rows):
            self._counters.spooled += len(rows)
            if rejected:
                self._give_up_dead_letters(rejected, RuntimeError("database unavailable"))
                rejected.clear()
            return True
        if self._spool_log.allow():
            logger.error(
                "analytics spool %s is full or failing (%d bytes cap): batch of %d events "
                "kept in memory; %d similar messages suppressed",
                self._spool.directory,
                self._spool.max_bytes,
                len(rows),
                self._spool_log.take_suppressed(),
            )
        return False

    async def _maybe_replay_spool(self) -> None:
        """Replay spooled batches, oldest first, once the database accepts writes.

        Live batches are interleaved (one whenever a full batch is waiting), so a large
        spool does not starve the queue into dropping events.
        """
        spool = self._spool
        if spool is None or self._circuit_open() or not spool.has_pending():
            return
        claimed = False
        for path in spool.segments():
            claim = spool.claim(path)
            if claim is None:
                continue  # another live process holds it
            claimed = True
            try:
                start = self._replay_progress.get(claim.name, 0)
                for index, rows in claim.records(start):
                    if self._deadline_passed():
                        return
                    if not await self._write_with_retry(rows, [], replay=True):
                        return  # still down: the segment stays, replay resumes later
                    self._replay_progress[claim.name] = index + 1
                    if not self._stop_requested and (
                        len(self._channel) >= self._settings.batch_size
                    ):
                        await self._process(self._channel.take(self._settings.max_batch_size))
                claim.finish()
                self._replay_progress.pop(claim.name, None)
            finally:
                claim.release()
        if not claimed:
            spool.note_idle()


# -- fork safety of connecting ------------------------------------------------------
#
# Opening a connection runs code that is not fork-safe in this thread: asyncpg builds
# an ``ssl.SSLContext`` per connect (sslmode=prefer), and DNS lookups take libc locks.
# A fork while the worker thread is inside one of those leaves the lock held forever in
# the child, whose new worker thread then hangs at its first connect (seen with
# multiprocessing's fork start method). So forks wait, bounded, for an acquire in
# progress to finish.
_FORK_GUARD = threading.Lock()
_FORK_GUARD_WAIT_SECS = 5.0
_fork_guard_held = False


async def _acquire_fork_safely(
    pool: asyncpg.Pool[Any],
    timeout: float,  # noqa: ASYNC109
) -> PoolConnectionProxy[Any]:
    # Polled, never blocking: the fork hook holds the guard only for the fork itself,
    # and a worker on the application's own loop must never block that loop.
    locked = _FORK_GUARD.acquire(blocking=False)
    for _ in range(1000):
        if locked:
            break
        await asyncio.sleep(0.001)
        locked = _FORK_GUARD.acquire(blocking=False)
    try:
        return await pool.acquire(timeout=timeout)
    finally:
        if locked:
            _FORK_GUARD.release()


def _before_fork() -> None:
    global _fork_guard_held  # noqa: PLW0603 - paired with the after-fork hooks
    # Bounded: if the fork happens on the thread that holds the guard (a worker on the
    # forking application's own loop), waiting could never succeed.
    _fork_guard_held = _FORK_GUARD.acquire(timeout=_FORK_GUARD_WAIT_SECS)


def _after_fork_in_parent() -> None:
    global _fork_guard_held  # noqa: PLW0603
    if _fork_guard_held:
        _fork_guard_held = False
        _FORK_GUARD.release()


def _after_fork_in_child_reset_guard() -> None:
    global _FORK_GUARD, _fork_guard_held  # noqa: PLW0603
    _FORK_GUARD = threading.Lock()
    _fork_guard_held = False


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child_reset_guard,
    )


def _is_connection_error(err: BaseException) -> bool:
    """No server answer at all (as opposed to the server refusing the statement)."""
    return not isinstance(err, asyncpg.PostgresError)


class _ThreadPerCallExecutor(concurrent.futures.ThreadPoolExecutor):
    """The private loop's default executor (used by asyncio for DNS lookups).

    asyncio's default ``ThreadPoolExecutor`` refuses new work once the interpreter has
    begun to exit, so a worker whose DSN names a host (not an IP) could not connect from
    the ``atexit`` hook and its queued events were lost. This executor starts a daemon
    thread per call (a DNS lookup per new connection: rare), and runs the call inline if
    even that is refused. (A ThreadPoolExecutor subclass only because asyncio insists;
    its pool is never used.)
    """

    def submit(
        self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[Any]:
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def work() -> None:
            if not fut.set_running_or_notify_cancel():
                return
            try:
                fut.set_result(fn(*args, **kwargs))
            except BaseException as err:  # handed to the awaiting side
                fut.set_exception(err)

        try:
            threading.Thread(target=work, name="lib-analytics-core-dns", daemon=True).start()
        except RuntimeError:
            work()
        return fut


class ThreadedWorker:
    """An :class:`AnalyticsWorker` running on its own loop in a daemon thread.

    For WSGI apps, Django, Celery and scripts. All methods are blocking and thread-safe.
    """

    def __init__(
        self,
        config: WorkerConfig,
        dsn: str | PoolFactory,
        *,
        register_atexit: bool = True,
    ) -> None:
        self._config = config
        self._dsn = dsn
        self._register_atexit = register_atexit
        self._lock = threading.Lock()
        self._worker = AnalyticsWorker(config, dsn)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = threading.Event()
        self._stopped = False
        self._atexit_registered = False
        self._pid = os.getpid()

    @property
    def worker(self) -> AnalyticsWorker:
        return self._worker

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._started.clear()
            self._thread = threading.Thread(
                target=self._main, name="lib-analytics-core-worker", daemon=True
            )
            self._thread.start()
        self._started.wait(10.0)
        if self._register_atexit and not self._atexit_registered:
            atexit.register(self._atexit)
            self._atexit_registered = True
            _flush_at_pool_child_exit(self)
        _register_threaded_for_fork(self)

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        loop.set_default_executor(_ThreadPerCallExecutor())
        self._loop = loop
        try:
            task = loop.create_task(self._worker.run())
            loop.call_soon(self._started.set)
            loop.run_until_complete(task)
        except Exception:
            logger.exception("analytics worker thread crashed")
        finally:
            self._started.set()
            try:
                # Let callers' coroutines (a shutdown() or flush() waiting on the worker's
                # completion) finish before the loop closes, or their futures never resolve.
                # Bounded: a leftover task stuck on a blackholed socket must not keep
                # the thread (and an exiting interpreter) waiting.
                pending = asyncio.all_tasks(loop)
                if pending:
                    loop.run_until_complete(asyncio.wait(pending, timeout=_POOL_CLOSE_SECS))
                    for task in pending:
                        task.cancel()
                    loop.run_until_complete(asyncio.wait(pending, timeout=_POOL_CLOSE_SECS))
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

    def _call(self, factory: Callable[[], Coroutine[Any, Any, Any]], timeout: float | None) -> Any:
        loop = self._loop
        thread = self._thread
        if loop is None or thread is None or not thread.is_alive() or loop.is_closed():
            # Not running (never started, or already stopped): do the work inline.
            return asyncio.run(factory())
        fut = asyncio.run_coroutine_threadsafe(factory(), loop)
        return fut.result(timeout)

    def flush(self, timeout: float | None = None) -> bool:
        """Block until everything queued now is written (or ``timeout`` passes)."""
        try:
            result: bool = self._call(
                lambda: self._worker.flush(timeout), None if timeout is None else timeout + 5
            )
        except TimeoutError:
            return False
        return result

    def shutdown(self, timeout: float | None = None) -> ShutdownReport:
        """Write what is queued within ``timeout``, stop the thread. Idempotent."""
        budget = self._config.settings.shutdown_timeout_secs if timeout is None else timeout
        with self._lock:
            if self._stopped:
                return ShutdownReport(0, 0, 0, False)
            self._stopped = True
        try:
            report: ShutdownReport = self._call(
                lambda: self._worker.shutdown(budget), budget + 10.0
            )
        except TimeoutError:
            report = ShutdownReport(0, 0, len(self._config.channel), True)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(5.0)
        if self._atexit_registered:
            atexit.unregister(self._atexit)
            self._atexit_registered = False
        return report

    def stats(self) -> WorkerStats:
        return self._worker.stats()

    def recent_rejections(self) -> list[Rejected]:
        return self._worker.recent_rejections()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _atexit(self) -> None:
        if not self._stopped and os.getpid() == self._pid:
            self.shutdown()

    def _after_fork_in_child(self) -> None:
        # The thread did not survive the fork; the parent's queued events were cleared
        # by the channel's own fork hook (the parent writes them). Start afresh.
        if self._stopped or self._thread is None:
            return
        self._lock = threading.Lock()
        self._worker = AnalyticsWorker(self._config, self._dsn)
        self._thread = None
        self._loop = None
        self._started = threading.Event()
        self._pid = os.getpid()
        self.start()
        if self._atexit_registered:
            _flush_at_pool_child_exit(self)


def _flush_at_pool_child_exit(threaded: ThreadedWorker) -> None:
    """multiprocessing (and Celery's billiard) children end with ``os._exit`` after
    their target returns, so ``atexit`` never runs there; their own exit finalizers do.
    Register the shutdown there too (it is idempotent, so a normal exit is harmless).

    Their process bootstrap clears finalizers registered during the fork, then runs
    its "after fork" callbacks: so the finalizer is registered from one of those."""
    for name in ("multiprocessing.util", "billiard.util"):
        util = sys.modules.get(name)
        register = getattr(util, "register_after_fork", None)
        finalize = getattr(util, "Finalize", None)
        if register is None or finalize is None:
            continue

        def in_child(obj: ThreadedWorker, finalize: Any = finalize) -> None:
            finalize(None, obj._atexit, exitpriority=10)

        with contextlib.suppress(Exception):
            register(threaded, in_child)


_THREADED: list[Any] = []


def _restart_threaded_after_fork() -> None:
    for ref in _THREADED:
        threaded = ref()
        if threaded is not None:
            threaded._after_fork_in_child()


def _register_threaded_for_fork(threaded: ThreadedWorker) -> None:
    if not _THREADED:
        # Runs after the channels' own reset (registered first, at client creation),
        # both from os.register_at_fork and from the lazy pid check in the channel.
        on_fork_in_child(_restart_threaded_after_fork)
    if any(ref() is threaded for ref in _THREADED):
        return
    _THREADED.append(weakref.ref(threaded))
