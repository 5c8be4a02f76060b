"""Settling one fetch of ``analytics-ingest``: decode, store, then ack, nak or terminate.

The consumer service (``ingest.py``) pulls; this decides what becomes of each message
it fetched. A fetch is written in one attempt of the write path's delivery policy
(``ingest.pipeline``: rows, then dead letters) and acknowledged **only after that
commit**. A failure is the policy's (``DeliveryPolicy.failed``: counted, logged, a
backoff delay): nothing is acknowledged and the messages are nak'ed with that delay,
JetStream's redelivery being the retry. A non-transient failure the sink could not
isolate to rows is retried ``_POISON_DELIVERIES`` times, then the fetch is split
message by message and a message that still fails has its rows dead-lettered with the
error and is acknowledged, so the consumer always settles. A malformed message is
terminated, never retried. While a write runs longer than a third of ``ack_wait`` the
messages are kept alive (``in_progress``), so a slow but live write is not handed to a
second replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from .._errors import BusError
from ..ingest.errors import describe, is_transient
from ..ingest.pipeline import DeliveryPolicy
from ..ingest.rows import Rejected, Row, refused_row, storable
from ..ingest.sinks.nats_wire import decode_rejected, decode_rows
from ..ingest.stats import Counters, LogLimiter
from ..ingest.stop import Stop
from .config import IngestConfig

if TYPE_CHECKING:
    from nats.aio.msg import Msg

__all__ = ["MessageCounts", "Settler"]

logger = logging.getLogger("lib_analytics_core")

#: Deliveries of a message failing with a non-transient error before its fetch is
#: split message by message and the messages still failing are dead-lettered.
_POISON_DELIVERIES = 3


class MessageCounts:
    """What only the bus has: messages (the rows' counters are ``ingest.stats``')."""

    __slots__ = ("malformed", "messages", "poisoned", "redelivered")

    def __init__(self) -> None:
        self.messages = 0
        self.redelivered = 0
        self.malformed = 0
        self.poisoned = 0


class Settler:
    """Settles fetched messages through the delivery policy; one per service, shared by
    its pull loops (each settles its own fetch)."""

    def __init__(
        self,
        config: IngestConfig,
        *,
        policy: DeliveryPolicy,
        counters: Counters,
        counts: MessageCounts,
        stop: Stop,
        flush: Callable[[], Awaitable[None]],
    ) -> None:
        self._config = config
        self._bus = config.bus
        self._policy = policy
        self._counters = counters  # the pipeline's, which the policy counts in
        self._counts = counts
        self._token = stop
        self._flush = flush
        self._malformed_log = LogLimiter(10.0)
        self._malformed: list[tuple[Msg, BusError]] = []

    async def _decode(
        self, msgs: Sequence[Msg]
    ) -> tuple[list[Row], list[Rejected], list[Msg], bool]:
        """Rows, producer dead letters, decodable messages, and whether any is redelivered."""
        rows: list[Row] = []
        refused: list[Rejected] = []
        good: list[Msg] = []
        redelivery = False
        dl_prefix = self._bus.dead_letter_prefix + "."
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
                self._counts.redelivered += 1
            await asyncio.sleep(0)  # ~10 ms of decoding per message: let the others run
        return rows, refused, good, redelivery

    async def handle(self, msgs: Sequence[Msg]) -> None:
        """One batch: decode, write, dead-letter, then ack (or nak on failure)."""
        rows, refused, good, redelivery = await self._decode(msgs)
        while self._malformed:
            await self._terminate(*self._malformed.pop())
        if not good:
            return
        keepalive = asyncio.create_task(self._keep_alive(good))
        try:
            written, letters = await self._store(rows, refused, redelivery=redelivery)
        except Exception as err:
            if is_transient(err) or max(_delivered(m) for m in good) < _POISON_DELIVERIES:
                await self._failed(good, len(rows), err)
                return
            # Not an outage, and not isolated to rows by the sink: split the fetch so
            # the good messages are stored and acknowledged and only the poison stays.
            for msg in good:
                await self._handle_alone(msg, err)
            return
        finally:
            keepalive.cancel()
        await self._ack(good)
        self._succeeded(written, letters, len(good))

    async def _store(
        self, rows: list[Row], refused: list[Rejected], *, redelivery: bool
    ) -> tuple[int, int]:
        """Write ``rows``, then the dead letters (``refused`` and the sink's): one
        attempt of the shared policy; ``(written, dead_lettered)``."""
        return await self._policy.attempt(rows, refused, redelivery=redelivery, stop=self._token)

    async def _handle_alone(self, msg: Msg, first: BaseException) -> None:
        """One message of a fetch that keeps failing: store it on its own; if it still
        fails (not transiently), dead-letter its rows with the error and acknowledge."""
        rows, refused, good, _ = await self._decode([msg])
        if not good:
            while self._malformed:
                await self._terminate(*self._malformed.pop())
            return
        try:
            written, letters = await self._store(rows, refused, redelivery=True)
        except Exception as err:
            if is_transient(err):
                await self._failed([msg], len(rows), err)
                return
            await self._poisoned(msg, rows, refused, err)
            return
        await self._ack([msg])
        self._succeeded(written, letters, 1)
        del first

    async def _poisoned(
        self, msg: Msg, rows: list[Row], refused: list[Rejected], err: BaseException
    ) -> None:
        reason = f"could not be stored after {_delivered(msg)} deliveries: {describe(err)}"
        letters = [*refused, *(_as_rejected(r, reason) for r in rows)]
        self._counts.poisoned += 1
        self._counters.record_error(err)
        logger.error(
            "analytics-ingest: message on %s (stream seq %s) failed %d times (%s); "
            "dead-lettering its %d row(s) and acknowledging it",
            msg.subject,
            getattr(msg.metadata.sequence, "stream", "?"),
            _delivered(msg),
            describe(err),
            len(letters),
        )
        try:
            await self._store([], letters, redelivery=True)
        except Exception as dl_err:
            if is_transient(dl_err):
                await self._failed([msg], len(rows), dl_err)
                return
            # Even the dead letters are refused: terminate (never redelivered), counted
            # as poisoned and logged above; the evidence is the stream's sequence.
            logger.error(
                "analytics-ingest: the dead letters were refused too (%s); terminating the message",
                describe(dl_err),
            )
            with contextlib.suppress(Exception):
                await msg.term()
            return
        await self._ack([msg])
        self._succeeded(0, len(letters), 1)

    async def _ack(self, msgs: Sequence[Msg]) -> None:
        # Committed: only now acknowledge. A lost ack means one more (idempotent) delivery.
        for msg in msgs:
            with contextlib.suppress(Exception):
                await msg.ack()
        await self._flush()

    def _succeeded(self, written: int, dead_lettered: int, messages: int) -> None:
        """Acknowledged: the policy counts the batch (and ends an outage)."""
        self._policy.succeeded(written, dead_lettered)
        self._counts.messages += messages

    async def _failed(self, msgs: Sequence[Msg], rows: int, err: BaseException) -> None:
        """Not stored: acknowledge nothing; ask for redelivery after the backoff delay
        the policy counts, logs and returns for this failure (as for the worker)."""
        delay = self._policy.failed(err, rows)
        for msg in msgs:
            with contextlib.suppress(Exception):
                await msg.nak(delay=delay)

    async def _keep_alive(self, msgs: Sequence[Msg]) -> None:
        """Tell JetStream a long write is still alive, so it does not redeliver it."""
        interval = self._bus.ack_wait_secs / 3
        while True:
            await asyncio.sleep(interval)
            for msg in msgs:
                with contextlib.suppress(Exception):
                    await msg.in_progress()

    async def _terminate(self, msg: Msg, err: BaseException) -> None:
        self._counts.malformed += 1
        self._counters.record_error(err)
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


def _delivered(msg: Msg) -> int:
    try:
        return int(msg.metadata.num_delivered)
    except Exception:
        return 1


def _as_rejected(row: Row, reason: str) -> Rejected:
    return storable(refused_row(row, reason))
