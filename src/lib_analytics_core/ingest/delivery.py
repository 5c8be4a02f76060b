"""The delivery policy: how one batch reaches a sink, whatever the sink is.

Owns: retry with exponential backoff and "equal" jitter; the circuit (after a failure,
batches go straight to the spool until the backoff has passed, instead of each waiting
on a connect timeout); the per-attempt timeout clipped to shutdown's deadline; giving
up at the deadline (spool, else count as lost); dead letters (refused rows, kept in the
sink's dead-letter store, or in memory when even that fails); hand-off to the spool and
replay from it; the outcome counters and their rate-limited log lines.

Must not touch: the channel, batching or encoding (``worker``); connections, SQL or
any medium (``sinks``); files (``spool``, reached only through ``AsyncSpool``).

Rules a reader can check here:

* A row the sink has delivered is never delivered again by this policy: once
  ``deliver`` returns, only dead letters remain to be handled (a failure after a commit,
  such as a connection dying in the pool's reset, is the sink's to absorb; see
  ``sinks/postgres``).
* A retry is a *redelivery* (the sink makes it idempotent): the first attempt may have
  been stored although it raised.
* Dead letters are retried a few times, then kept in memory (``recent_rejections``):
  they never hold up the batches behind them.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TypeVar

from .._config import AnalyticsConfig
from .clock import Clock
from .encoding import Rejected, Row
from .sinks.base import Sink
from .spool_io import AsyncSpool
from .stats import Counters, LogLimiter

__all__ = ["DeliveryPolicy"]

_T = TypeVar("_T")

logger = logging.getLogger("lib_analytics_core")

#: Smallest per-attempt timeout used near a shutdown deadline (a zero timeout would
#: fail even against a healthy database).
_MIN_OP_TIMEOUT_SECS = 0.05
#: Failed attempts to store dead letters before they are kept in memory instead.
_DEAD_LETTER_ATTEMPTS = 3


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
        self._rng = rng or random.Random()  # noqa: S311 - backoff jitter
        self._deadline: float | None = None
        self._poke: asyncio.Event | None = None  # wakes the attempt in flight
        self.stop_requested = False
        self.stop_event: asyncio.Event | None = None  # set by the worker's run()
        self.recent_rejections: deque[Rejected] = deque(maxlen=100)
        self._failures = 0  # consecutive failed attempts, across batches: drives backoff
        self._down_until = 0.0
        self._replay_progress: dict[str, int] = {}
        self._fail_log = LogLimiter(10.0)
        self._spool_log = LogLimiter(30.0)
        self._reject_log = LogLimiter(10.0)

    # -- time ------------------------------------------------------------------------

    @property
    def deadline(self) -> float | None:
        """Shutdown's deadline (clock time), or None while running normally."""
        return self._deadline

    @deadline.setter
    def deadline(self, value: float | None) -> None:
        self._deadline = value
        if self._poke is not None:
            self._poke.set()  # an attempt in flight must now end by the deadline too

    async def _bounded(self, call: Awaitable[_T]) -> _T:
        """One sink call, cut at the shutdown deadline, also when that deadline is set
        while the call is in flight (an attempt begun with a long ``write_timeout_secs``
        before ``shutdown()`` was called must not outlive shutdown's budget)."""
        task = asyncio.ensure_future(call)
        poke = self._poke = asyncio.Event()
        task.add_done_callback(lambda _: poke.set())
        try:
            while not task.done():
                poke.clear()
                if self._deadline is None:
                    await poke.wait()
                    continue
                remaining = self._deadline - self._clock.now()
                if remaining <= 0:
                    task.cancel()
                    await asyncio.wait([task])  # the sink's cleanup (terminate) runs now
                    raise TimeoutError("the shutdown deadline passed during the attempt")
                await self._clock.wait(poke, remaining)
            return task.result()
        finally:
            self._poke = None
            if not task.done():
                task.cancel()

    def circuit_open(self) -> bool:
        return self._clock.now() < self._down_until

    def deadline_passed(self) -> bool:
        return self.deadline is not None and self._clock.now() >= self.deadline

    def op_timeout(self) -> float:
        """The write timeout, shortened so no single attempt outlives the deadline."""
        timeout = self._settings.write_timeout_secs
        if self.deadline is not None:
            timeout = max(_MIN_OP_TIMEOUT_SECS, min(timeout, self.deadline - self._clock.now()))
        return timeout

    def backoff_delay(self, attempt: int) -> float:
        s = self._settings
        ceiling = min(s.max_backoff_secs, s.initial_backoff_secs * (2.0 ** min(attempt - 1, 30)))
        return float(ceiling * (0.5 + self._rng.random() / 2))  # "equal jitter"

    async def _sleep(self, delay: float) -> None:
        """Back off, but wake at once for shutdown and never sleep past its deadline."""
        if self.deadline is not None:
            delay = max(0.0, min(delay, self.deadline - self._clock.now()))
        await self._clock.wait(None if self.stop_requested else self.stop_event, delay)

    # -- one batch ---------------------------------------------------------------------

    async def deliver(
        self,
        rows: list[Row],
        rejected: list[Rejected],
        *,
        redelivery: bool = False,
        replay: bool = False,
    ) -> bool:
        """Store ``rows`` (and dead-letter ``rejected``). True when stored.

        False means the rows went to the spool or were given up on at the deadline
        (or, for a replay, that the sink is still unavailable: the rows stay on disk).
        """
        attempt = 0
        pending = list(rejected)
        while rows:
            if self.deadline_passed():
                if not replay:
                    await self._give_up(rows, pending)
                return False
            if (
                not replay
                and not self.stop_requested  # at shutdown, try for real until the deadline
                and self.spool is not None
                and self.circuit_open()
                and await self._spool_rows(rows, pending)
            ):
                return False  # failed moments ago: spooled without waiting on a timeout
            try:
                again = replay or redelivery or attempt > 0
                timeout = self.op_timeout()
                outcome = await self._bounded(
                    self.sink.deliver(rows, redelivery=again, timeout=timeout)
                )
            except Exception as err:
                attempt += 1
                delay = self._on_failure(err, len(rows))
                if replay:
                    return False
                if (
                    self.spool is not None
                    and attempt >= self._settings.spool_after_failures
                    and await self._spool_rows(rows, pending)
                ):
                    return False
                await self._sleep(delay)
                continue
            if replay:
                self._counters.replayed += outcome.delivered
            else:
                self._counters.written += outcome.delivered
            self._counters.batches += 1
            pending.extend(outcome.refused)
            rows = []
            self._on_success()
        if pending:
            await self._dead_letter(pending)
        return True

    async def _dead_letter(self, rejected: list[Rejected]) -> None:
        for attempt in range(1, _DEAD_LETTER_ATTEMPTS + 1):
            try:
                timeout = self.op_timeout()
                await self._bounded(self.sink.dead_letter(rejected, timeout=timeout))
            except Exception as err:
                delay = self._on_failure(err, 0)
                if attempt == _DEAD_LETTER_ATTEMPTS or self.deadline_passed():
                    self._keep_in_memory(rejected, err)
                    return
                await self._sleep(delay)
                continue
            self._counters.rejected += len(rejected)
            self.recent_rejections.extend(rejected)
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
            return

    def _keep_in_memory(self, rejected: list[Rejected], err: BaseException) -> None:
        if not rejected:
            return
        self._counters.rejected += len(rejected)
        self.recent_rejections.extend(rejected)
        logger.error(
            "analytics: could not store %d rejected events in the dead-letter store (%s); "
            "they are kept in worker.recent_rejections()",
            len(rejected),
            type(err).__name__,
        )

    def _on_failure(self, err: BaseException, rows: int) -> float:
        """Count and (rate-limited) log one failed attempt; return the backoff delay."""
        self._counters.retried += 1
        self._failures += 1
        self._counters.record_error(err)
        delay = self.backoff_delay(self._failures)
        self._down_until = self._clock.now() + delay
        if self._fail_log.allow():
            logger.warning(
                "analytics delivery to %s failed (%d consecutive failures, %d rows, "
                "%d similar messages suppressed); retrying in %.2fs: %s",
                self.sink.name,
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
                "analytics spool %s is full or failing (%d bytes cap): batch of %d events "
                "kept in memory; %d similar messages suppressed",
                spool.directory,
                spool.max_bytes,
                len(rows),
                self._spool_log.take_suppressed(),
            )
        return False

    # -- the spool -----------------------------------------------------------------------

    def replay_wanted(self) -> bool:
        """Cheap (no I/O): whether a replay pass is worth starting now."""
        return self.spool is not None and not self.circuit_open() and self.spool.may_have_pending()

    async def replay(self, between: Callable[[], Awaitable[None]]) -> None:
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
                    if self.deadline_passed():
                        return
                    if not await self.deliver(rows, [], replay=True):
                        return  # still down: the segment stays, replay resumes later
                    self._replay_progress[claim.name] = index + 1
                    await between()
                await spool.finish(claim)
                self._replay_progress.pop(claim.name, None)
            finally:
                await spool.release(claim)
        if not claimed:
            spool.note_idle()
