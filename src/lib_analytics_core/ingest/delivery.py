"""The delivery policy: how one batch reaches a sink, whatever the sink is.

Owns: retry with exponential backoff and "equal" jitter (``backoff.Backoff``); the
circuit (after a failure, batches go straight to the spool until the backoff has
passed, instead of each waiting on a connect timeout); the per-attempt timeout clipped
to the stop token's deadline; giving up at the deadline (spool, else count as lost);
dead letters, on a path of their own (their own few retries, never the outage circuit,
never counted as a failed write; kept in memory when even that fails); hand-off to the
spool and replay from it; the outcome counters and their rate-limited log lines.
The worker, the HTTP collector and the bus consumer
(``analytics-ingest``) all get it from ``pipeline.build_pipeline``; the consumer uses
its single :meth:`DeliveryPolicy.attempt` and :meth:`DeliveryPolicy.failed` (its
retry is JetStream's redelivery, after the backoff delay ``failed`` returns).

Must not touch: the channel, batching or encoding (``worker``, ``processor``);
connections, SQL or any medium (``sinks``); files (``spool``, reached only through
``AsyncSpool``, whose calls never raise). The stop token is an *argument* of every
call (``stop``): the worker never sets this object's fields.

Rules a reader can check here:

* :meth:`DeliveryPolicy.deliver` returns for every batch, whatever the sink or the
  spool raise (only a cancellation of the caller propagates), so the processor releases
  each batch exactly once.
* A row the sink has delivered is never delivered again by this policy: once
  ``deliver`` returns, only dead letters remain to be handled.
* A retry is a *redelivery* (the sink makes it idempotent): the first attempt may have
  been stored although it raised.
* A replayed row is counted once, as ``replayed`` (stored) or ``replay_rejected``
  (dead-lettered): it was counted as ``spooled`` when it went to disk.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TypeVar

from .._config import AnalyticsConfig
from .._errors import AnalyticsError
from .backoff import Backoff
from .clock import Clock
from .errors import not_ready_hint
from .rows import Rejected, Row
from .sinks.base import Sink, SinkOutcome
from .spool_io import AsyncSpool
from .stats import Counters, LogLimiter
from .stop import Stop

__all__ = ["Backoff", "DeliveryPolicy"]

_T = TypeVar("_T")

logger = logging.getLogger("lib_analytics_core")

#: Smallest per-attempt timeout used near a shutdown deadline (a zero timeout would
#: fail even against a healthy database).
_MIN_OP_TIMEOUT_SECS = 0.05
#: Failed attempts to store dead letters before they are kept in memory instead.
_DEAD_LETTER_ATTEMPTS = 3
#: Pause between two attempts to store dead letters (their own, short, retry).
_DEAD_LETTER_PAUSE_SECS = 0.1


class _SinkCancelled(AnalyticsError):
    """A sink call ended cancelled although nobody cancelled the caller."""


class DeliveryPolicy:
    """Delivers batches to one sink; one delivery at a time (the worker awaits each)."""

    def __init__(
        self,
        settings: AnalyticsConfig,
        sink: Sink,
        spool: AsyncSpool | None,
        counters: Counters,
        clock: Clock,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self._settings = settings
        self.sink = sink
        self.spool = spool
        self._counters = counters
        self._clock = clock
        # Consecutive failed attempts, across batches: drives backoff and the circuit.
        self.backoff = Backoff(settings.initial_backoff_secs, settings.max_backoff_secs, rng=rng)
        self.recent_rejections: deque[Rejected] = deque(maxlen=100)
        self._down_until = 0.0
        self._replay_progress: dict[str, int] = {}
        self._fail_log = LogLimiter(10.0)
        self._spool_log = LogLimiter(30.0)
        self._reject_log = LogLimiter(10.0)

    # -- time ------------------------------------------------------------------------

    async def _bounded(self, call: Awaitable[_T], stop: Stop) -> _T:
        """One sink call, cut at the stop token's deadline, also when that deadline is
        set while the call is in flight (an attempt begun with a long
        ``write_timeout_secs`` before ``shutdown()`` was called must not outlive
        shutdown's budget). A call that ends *cancelled* although the caller was not
        cancelled is a failed attempt like any other, not a stop."""
        task = asyncio.ensure_future(call)
        poke = asyncio.Event()
        task.add_done_callback(lambda _: poke.set())
        stop.watch(poke)
        try:
            while not task.done():
                poke.clear()
                if stop.deadline is None:
                    await poke.wait()
                    continue
                remaining = stop.deadline - self._clock.now()
                if remaining <= 0:
                    task.cancel()
                    await asyncio.wait([task])  # the sink's cleanup (terminate) runs now
                    raise TimeoutError("the shutdown deadline passed during the attempt")
                await self._clock.wait(poke, remaining)
            if task.cancelled():
                raise _SinkCancelled(f"the {self.sink.name} sink's call was cancelled")
            return task.result()
        finally:
            stop.unwatch(poke)
            if not task.done():
                task.cancel()

    def circuit_open(self) -> bool:
        return self._clock.now() < self._down_until

    def op_timeout(self, stop: Stop) -> float:
        """The write timeout, shortened so no single attempt outlives the deadline."""
        timeout = self._settings.write_timeout_secs
        if stop.deadline is not None:
            timeout = max(_MIN_OP_TIMEOUT_SECS, min(timeout, stop.deadline - self._clock.now()))
        return timeout

    def backoff_delay(self, attempt: int) -> float:
        return self.backoff.delay(attempt)

    async def _sleep(self, delay: float, stop: Stop) -> None:
        """Back off, but wake at once for shutdown and never sleep past its deadline."""
        if stop.deadline is not None:
            delay = max(0.0, min(delay, stop.deadline - self._clock.now()))
        await self._clock.wait(None if stop.requested else stop.event, delay)

    # -- one batch ---------------------------------------------------------------------

    async def deliver(
        self,
        rows: list[Row],
        rejected: list[Rejected],
        *,
        stop: Stop,
        redelivery: bool = False,
        replay: bool = False,
    ) -> bool:
        """Store ``rows`` (and dead-letter ``rejected``). True when stored.

        False means the rows went to the spool or were given up on at the deadline
        (or, for a replay, that the sink is still unavailable: the rows stay on disk).
        Returns whatever the sink or the spool raise; only a cancellation of the caller
        propagates (the batch is then still the processor's, for the final drain).
        """
        attempt = 0
        pending = list(rejected)
        stored = 0
        while rows:
            if stop.passed(self._clock.now()):
                if not replay:
                    await self._give_up(rows, pending)
                return False
            if (
                not replay
                and not stop.requested  # at shutdown, try for real until the deadline
                and self.spool is not None
                and self.circuit_open()
                and await self._spool_rows(rows, pending)
            ):
                return False  # failed moments ago: spooled without waiting on a timeout
            try:
                again = replay or redelivery or attempt > 0
                outcome = await self.write(rows, redelivery=again, stop=stop)
            except Exception as err:
                attempt += 1
                delay = self.failed(err, len(rows))
                if replay:
                    return False
                if (
                    self.spool is not None
                    and attempt >= self._settings.spool_after_failures
                    and await self._spool_rows(rows, pending)
                ):
                    return False
                await self._sleep(delay, stop)
                continue
            c = self._counters
            if replay:
                c.replayed += outcome.delivered
                c.replay_rejected += len(outcome.refused)
            else:
                stored = outcome.delivered
            c.batches += 1
            pending.extend(outcome.refused)
            rows = []
            self._on_success()
        if pending:
            await self._dead_letter(pending, stop, counted=not replay)
        # Counted only now, with no await before the pipeline releases the batch: a
        # stats() reader never sees its rows both written and still in flight.
        self._counters.written += stored
        return True

    async def _dead_letter(self, rejected: list[Rejected], stop: Stop, *, counted: bool) -> None:
        """Store dead letters: a few quick retries of their own, then memory. A failure
        here is not an outage (the rows were refused, the sink may be fine): it neither
        opens the circuit nor counts as a failed write. ``counted``: add them to
        ``rejected`` (a replay counts its refusals as ``replay_rejected`` instead)."""
        c = self._counters
        for attempt in range(1, _DEAD_LETTER_ATTEMPTS + 1):
            try:
                timeout = self.op_timeout(stop)
                await self._bounded(self.sink.dead_letter(rejected, timeout=timeout), stop)
            except Exception as err:
                c.record_error(err)
                if attempt == _DEAD_LETTER_ATTEMPTS or stop.passed(self._clock.now()):
                    self._keep_in_memory(rejected, err, counted=counted)
                    return
                c.dead_letter_retries += 1
                await self._sleep(_DEAD_LETTER_PAUSE_SECS * attempt, stop)
                continue
            if counted:
                c.rejected += len(rejected)
            self.recent_rejections.extend(rejected)
            if self._reject_log.allow():
                first = rejected[0]
                logger.warning(
                    "analytics: %d event(s) refused and dead-lettered (e.g. %s %s: %s); "
                    "%d similar messages suppressed",
                    len(rejected),
                    first.event_type[:100],
                    first.event_id,
                    first.error[:200],
                    self._reject_log.take_suppressed(),
                )
            return

    def _keep_in_memory(
        self, rejected: list[Rejected], err: BaseException, *, counted: bool = True
    ) -> None:
        if not rejected:
            return
        if counted:
            self._counters.rejected += len(rejected)
        self.recent_rejections.extend(rejected)
        logger.error(
            "analytics: could not store %d rejected events in the dead-letter store (%s); "
            "they are kept in worker.recent_rejections()",
            len(rejected),
            type(err).__name__,
        )

    def failed(self, err: BaseException, rows: int) -> float:
        """Count and (rate-limited) log one failed attempt; return the backoff delay
        (also the bus consumer's, which naks its messages with it)."""
        self._counters.retried += 1
        delay = self.backoff.fail()
        self._counters.record_error(err, write_failed=True)
        self._down_until = self._clock.now() + delay
        if self._fail_log.allow():
            logger.warning(
                "analytics delivery to %s failed (%d consecutive failures, %d rows, "
                "%d similar messages suppressed); retrying in %.2fs: %s",
                self.sink.name,
                self.backoff.failures,
                rows,
                self._fail_log.take_suppressed(),
                delay,
                self._counters.last_error,
            )
            if (why := not_ready_hint(err)) is not None:  # a deploy, not waiting, fixes it
                logger.error("analytics: %s", why)
        return delay

    async def write(self, rows: list[Row], *, redelivery: bool, stop: Stop) -> SinkOutcome:
        """One sink delivery: the timeout clipped to the stop token's deadline and the
        call cut there (``_bounded``). Raises what the sink raised; counts nothing. The
        step every writer's attempt is made of (this policy's, the collector's group
        commit, the bus consumer's)."""
        return await self._bounded(
            self.sink.deliver(rows, redelivery=redelivery, timeout=self.op_timeout(stop)), stop
        )

    async def attempt(
        self, rows: list[Row], rejected: list[Rejected], *, redelivery: bool, stop: Stop
    ) -> tuple[int, int]:
        """One attempt for a caller whose source keeps the rows until it settles them
        (the bus consumer: JetStream redelivers what it does not acknowledge): the rows,
        then every dead letter (``rejected`` and the sink's refusals), each call bounded
        as :meth:`deliver`'s. No retry, spool or memory: any failure raises, uncounted,
        for the caller to count with :meth:`failed`; a success it counts with
        :meth:`succeeded`. Returns ``(written, dead_lettered)``."""
        letters = list(rejected)
        written = 0
        if rows:
            outcome = await self.write(rows, redelivery=redelivery, stop=stop)
            written = outcome.delivered
            letters.extend(outcome.refused)
        if letters:
            await self._bounded(self.sink.dead_letter(letters, timeout=self.op_timeout(stop)), stop)
        return written, len(letters)

    def succeeded(self, written: int, dead_lettered: int) -> None:
        """Count a batch :meth:`attempt` stored, once its caller has settled it (the
        consumer's acknowledgement: a stats() reader never sees rows written and still
        pending), and end an outage."""
        self._on_success()
        c = self._counters
        c.batches += 1
        c.written += written
        c.rejected += dead_lettered

    def _on_success(self) -> None:
        failures = self.backoff.succeed()
        if failures:
            logger.warning("analytics writes recovered after %d failed attempts", failures)
            self._fail_log.reset()
        self._counters.last_write_ok = True
        self._down_until = 0.0

    async def _give_up(self, rows: list[Row], rejected: list[Rejected]) -> None:
        """The shutdown deadline passed: spool what can be spooled, count the rest."""
        if self.spool is None or not await self._spool_rows(rows, rejected):
            self._counters.lost += len(rows)
            logger.error("analytics: giving up on %d events at the shutdown deadline", len(rows))
            self._keep_in_memory(rejected, TimeoutError("shutdown deadline"))

    async def _spool_rows(self, rows: list[Row], rejected: list[Rejected]) -> bool:
        spool = self.spool
        assert spool is not None
        if await spool.append(rows):
            self._counters.spooled += len(rows)
            self._keep_in_memory(rejected, RuntimeError("sink unavailable"))
            rejected.clear()
            return True
        if self._spool_log.allow():
            logger.error(
                "analytics spool %s is %s (%d bytes cap): batch of %d events kept in "
                "memory (new events are dropped, and counted, once the queue is full); "
                "%d similar messages suppressed",
                spool.directory,
                "full" if spool.full else "failing",
                spool.max_bytes,
                len(rows),
                self._spool_log.take_suppressed(),
            )
        return False

    # -- the spool -----------------------------------------------------------------------

    def replay_wanted(self) -> bool:
        """Cheap (no I/O): whether a replay pass is worth starting now."""
        return self.spool is not None and not self.circuit_open() and self.spool.may_have_pending()

    async def replay(self, between: Callable[[], Awaitable[None]], stop: Stop) -> None:
        """Replay spooled batches, oldest first, while the sink accepts them.

        The caller guarantees no other delivery is in flight. ``between`` runs after
        each replayed record, so live batches are interleaved and a large spool does not
        starve the queue into dropping events.
        """
        spool = self.spool
        if spool is None or self.circuit_open() or not await spool.has_pending():
            return
        claimed = False
        for path in await spool.segments():
            claim = await spool.claim(path)
            if claim is None:
                continue  # another live process holds it
            claimed = True
            try:
                start = self._replay_progress.get(claim.name, 0)
                async for index, rows in spool.records(claim, start):
                    if stop.passed(self._clock.now()):
                        return
                    if not await self.deliver(rows, [], stop=stop, replay=True):
                        return  # still down: the segment stays, replay resumes later
                    self._replay_progress[claim.name] = index + 1
                    await between()
                if claim.incomplete:
                    return  # the disk failed mid-read: the segment stays for later
                await spool.finish(claim)
                self._replay_progress.pop(claim.name, None)
            finally:
                await spool.release(claim)
        if not claimed:
            spool.note_idle()
