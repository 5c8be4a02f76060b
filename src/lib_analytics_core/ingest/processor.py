"""The batch processor: taken batches, in order, encoded and delivered one at a time.

OpenTelemetry's ``BatchProcessor`` split: this side batches and encodes and knows
nothing of the medium; it hands rows to the delivery policy (``delivery``), which
talks to a :class:`~.sinks.base.Sink`. The stop token (deadline, stop requested) is an
argument of every call, never state set from outside.

Owns: the batches between ``take()`` and their outcome (kept until handled, so a
cancellation mid-delivery loses none: the final drain redelivers what is left; each
batch is released exactly once, by identity, whatever order deliveries end in);
encoding in chunks that keep the loop responsive, isolating an event the encoder
cannot handle whatever it raises; pipelining (the next batch is encoded while the
previous one is being delivered); the ``taken``/``in_flight``/``done`` accounting that
``flush()`` waits on.

Must not touch: when batches are formed or the worker's lifecycle (``worker``); how a
batch is delivered, retried or spooled (``delivery``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from .channel import QueuedEvent
from .delivery import DeliveryPolicy
from .encoding import EncodedBatch, RowEncoder, refused_unencodable
from .rows import Rejected, Row
from .stats import Counters
from .stop import Stop

__all__ = ["BatchProcessor"]

logger = logging.getLogger("lib_analytics_core")

#: Events encoded between two yields to the event loop. Encoding costs 2-3.5 us per
#: event (benchmarks/bench_track.py), so 300 events block the application's loop for
#: about a millisecond; 1,000 measured 2-3.5 ms.
_ENCODE_CHUNK = 300


class _Batch:
    """One batch between ``take()`` and its outcome. ``queued`` until encoded, then
    ``rows``/``rejected``; ``attempted`` once a delivery may have reached the sink
    (its retry must then be a redelivery)."""

    __slots__ = ("attempted", "n", "queued", "rejected", "released", "rows")

    def __init__(self, queued: list[QueuedEvent]) -> None:
        self.n = len(queued)
        self.queued: list[QueuedEvent] | None = queued
        self.rows: list[Row] = []
        self.rejected: list[Rejected] = []
        self.attempted = False
        self.released = False


class BatchProcessor:
    """At most two batches at a time: one being delivered, the next being encoded."""

    def __init__(
        self,
        encoder: RowEncoder,
        policy: DeliveryPolicy,
        counters: Counters,
        service: str,
    ) -> None:
        self._encoder = encoder
        self._policy = policy
        self._counters = counters
        self._service = service
        self.waiters: list[tuple[int, asyncio.Future[None]]] = []  # flush() calls
        self.in_flight = 0
        self.done_seq = 0  # events handled so far (delivered, dead-lettered, spooled, lost)
        self._batches: deque[_Batch] = deque()
        self._write_task: asyncio.Task[None] | None = None

    async def process(
        self, queued: list[QueuedEvent], stop: Stop, *, pipelined: bool = False
    ) -> None:
        """Encode and deliver one batch taken from the queue.

        ``pipelined``: return once the delivery has started, so the next batch is
        encoded while this one is in flight (the server is the slower side; the two
        overlap instead of adding up). Deliveries still happen one at a time, in order.
        """
        batch = _Batch(queued)
        self._counters.taken += batch.n
        self._batches.append(batch)
        self.in_flight += batch.n
        await self._encode_batch(batch)
        await self.wait_for_write()
        if pipelined:
            self._write_task = asyncio.ensure_future(self._write_batch(batch, stop))
        else:
            await self._write_batch(batch, stop)

    async def wait_for_write(self) -> None:
        """Wait for the delivery in flight, if any (shielded: cancelling the waiter must
        not cancel the delivery; the batch stays queued here until handled)."""
        task = self._write_task
        if task is None:
            return
        if not task.done():
            await asyncio.shield(task)
        self._write_task = None
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]

    async def resume(self, stop: Stop) -> None:
        """Handle, in order, every batch taken but not yet handled."""
        try:
            await self.wait_for_write()
        except Exception:  # the batch is still queued here; it is delivered below
            logger.debug("analytics: in-flight delivery failed before the drain", exc_info=True)
        self._write_task = None
        while self._batches:
            batch = self._batches[0]
            if batch.queued is not None:
                await self._encode_batch(batch)
            await self._write_batch(batch, stop)

    async def _encode_batch(self, batch: _Batch) -> None:
        assert batch.queued is not None
        queued = batch.queued
        total = EncodedBatch([], [])
        for start in range(0, len(queued), _ENCODE_CHUNK):
            _merge(total, self._encode_chunk(queued[start : start + _ENCODE_CHUNK]))
            if start + _ENCODE_CHUNK < len(queued):
                await asyncio.sleep(0)
        batch.rows, batch.rejected, batch.queued = total.rows, total.rejected, None
        self._counters.sampled_out += total.sampled_out
        self._counters.hook_dropped += total.hook_dropped

    def _encode_chunk(self, queued: list[QueuedEvent]) -> EncodedBatch:
        """Encode a chunk; if the encoder itself fails, isolate the event(s) responsible
        so the rest are kept and the culprit is dead-lettered, whatever it raised."""
        try:
            return self._encoder.encode(queued)
        except Exception as err:
            if len(queued) == 1:
                ts_ns, event = queued[0]
                return EncodedBatch([], [refused_unencodable(ts_ns, event, self._service, err)])
        out = EncodedBatch([], [])
        for item in queued:
            _merge(out, self._encode_chunk([item]))
        return out

    async def _write_batch(self, batch: _Batch, stop: Stop) -> None:
        """Deliver the oldest unhandled batch; then it is handled (delivered,
        dead-lettered, spooled or, at the shutdown deadline, counted as lost)."""
        redelivery = batch.attempted
        batch.attempted = True
        try:
            await self._policy.deliver(batch.rows, batch.rejected, stop=stop, redelivery=redelivery)
        except Exception:
            # The policy returns whatever the sink and the spool do; if it ever breaks
            # that promise, the batch is counted (lost) rather than left to wedge the
            # pipeline behind it.
            logger.exception("analytics: delivering a batch failed unexpectedly")
            self._counters.lost += len(batch.rows)
        # Not in a finally: if this is cancelled the batch stays for the drain.
        self._release(batch)

    def _release(self, batch: _Batch) -> None:
        """Exactly once per batch, by identity (not "the head of the queue")."""
        if batch.released:
            return
        batch.released = True
        self._batches.remove(batch)
        self.in_flight -= batch.n
        self.done_seq += batch.n
        self.resolve_waiters()

    def waiter(self, target: int) -> asyncio.Future[None]:
        """A future resolved once ``target`` events (counted from the first take) are
        handled: what ``flush()`` waits on."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters.append((target, fut))
        return fut

    def resolve_waiters(self, *, force: bool = False) -> None:
        if not self.waiters:
            return
        remaining = []
        for target, fut in self.waiters:
            if fut.done():
                continue
            if force or self.done_seq >= target:
                fut.set_result(None)
            else:
                remaining.append((target, fut))
        self.waiters = remaining


def _merge(into: EncodedBatch, part: EncodedBatch) -> None:
    into.rows.extend(part.rows)
    into.rejected.extend(part.rejected)
    into.sampled_out += part.sampled_out
    into.hook_dropped += part.hook_dropped
