"""The collector's one seam onto the write path: group commit over ``ingest.pipeline``.

The spool, sink, delivery policy and row encoder are the worker's, built by
``ingest.pipeline.build_pipeline`` (so the collector stores byte for byte the rows
``track()`` would, a test checks it): this module adds only what is the collector's
own, the group commit of concurrent requests with its acknowledgement rule, the answer
per event, and the spool's replay loop (by the worker's policy).

The acknowledgement rule: :meth:`CollectorDelivery.store` returns only when every row it
was given is committed in PostgreSQL (idempotent INSERT), acknowledged by JetStream, or
fsync'd to the collector's own spool. Otherwise it raises :class:`Unavailable` and the
request is answered 503: nothing is ever acknowledged from memory.

A client may be retrying a batch whose first answer it never saw; the deterministic ids
(``batch``) make that retry a no-op: in PostgreSQL the all-or-nothing COPY fails on the
first stored row and the sink's idempotent ``INSERT … ON CONFLICT DO NOTHING`` takes
over; in JetStream message ids drop the duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import hashlib
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from .._config import AnalyticsConfig, ClientMetadata
from .._dberrors import classify
from .._errors import AnalyticsError, ErrorKind
from ..ingest.encoding import EncodeItem, uuid7
from ..ingest.pipeline import DeliveryPolicy, Pipeline, build_pipeline
from ..ingest.rows import Rejected, Row, storable
from ..ingest.stop import Stop
from .batch import Enriched

__all__ = ["CollectorDelivery", "Encoded", "NotMigrated", "StoreOutcome", "Unavailable"]

logger = logging.getLogger("lib_analytics_core.collect")
_encode_json = msgspec.json.Encoder().encode

#: Most rows one group commit carries (several requests' worth; one statement).
_GROUP_ROWS = 20_000
#: Group commits in flight at once. One: every request that arrives while a group is
#: written (its COPY and its commit's WAL flush) joins the next group. Each group costs
#: a fixed share of CPU whatever its size (a pool checkout, a COPY's round trips and
#: socket writes, the commit: about 0.4 ms here, against 2-3 µs per row), and a second
#: writer halved the groups (2.4 requests of 100 events each on average with 8
#: clients, 4.0 with one). Benchmark 6 on 2 cores, same run: 14.0 against 14.2 µs of
#: CPU per event (seed format) and 14.2 against 15.0 (Segment) with one writer against
#: two; events/s mixed (27.6k against 33k seed, 32k against 31k Segment) on a shared
#: machine where events/s swung by 2x between runs, so CPU decided. Re-measured on a
#: quieter machine (4 rounds each, alternately): 38.4k against 39.7k events/s and 10.6
#: against 11.0 µs (seed), 38.7k against 37.3k and 11.85 against 11.45 µs (Segment) with
#: two writers against one: still within the noise.
DEFAULT_MAX_WRITERS = 1
#: How often the spool is checked for rows to replay once the database is back.
REPLAY_INTERVAL_SECS = 1.0


def _encode_meta(metadata: ClientMetadata | None) -> bytes:
    """A request's ``_meta`` JSON (an envelope without a host stores none)."""
    meta = metadata.as_json_dict() if metadata is not None else {}
    if not meta.get("host"):
        meta.pop("host", None)
    return _encode_json(meta)


def _cancelling() -> bool:
    """Whether the current task itself has been asked to stop (a CancelledError that
    some library raised on its own is an error like any other, not a shutdown)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class Unavailable(AnalyticsError):
    """Neither the sink nor the spool took the rows: answer 503 with Retry-After."""


class NotMigrated(Unavailable):
    """The database has no (current) analytics schema: answer 409, "run
    analytics-migrate". Not spooled: waiting alone never fixes it, and a 5xx would make
    every client retry a configuration error for ever."""


@dataclass(slots=True)
class Encoded:
    """Rows for a request, with the request index of each row, and local refusals."""

    rows: list[Row] = field(default_factory=list)
    indices: list[int] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class StoreOutcome:
    stored: int
    spooled: int
    refused: dict[uuid.UUID, str]  # event_id -> the database's reason


class CollectorDelivery:
    """Encodes enriched events to rows and stores them durably through one sink."""

    def __init__(self, pipeline: Pipeline, *, max_writers: int = DEFAULT_MAX_WRITERS) -> None:
        settings = pipeline.settings
        self.settings = pipeline.settings
        self.sink = pipeline.sink
        self.spool = pipeline.spool
        self.counters = pipeline.counters
        self._encoder = pipeline.encoder
        self.before_track = settings.before_track
        """The hook ``track()``'s worker runs (default: the privacy policy)."""
        self._pending: deque[tuple[list[Row], asyncio.Future[StoreOutcome]]] = deque()
        self._writers: set[asyncio.Future[None]] = set()
        self._spool_lock = asyncio.Lock()
        self.dead_letters_unstored = 0
        """Refusals the dead-letter store could not take (the clients got each reason)."""
        self.recent_unstored: deque[Rejected] = deque(maxlen=100)
        self.group_commits = 0
        """Group writes attempted (each holds one or more requests' rows)."""
        self.write_busy_seconds = 0.0
        """Wall time with a group write in flight (summed over writers). Its growth over
        an interval, divided by the interval, is how saturated the one writer is
        (``GET /stats``): near 1, every request waits for a group write to end, which
        is the database's work plus this process's event loop picking up its answers;
        ``benchmarks/bench_collect.py`` compares it with the same COPYs alone."""
        self.max_writers = max_writers
        # The worker's policy over the same sink and spool: each attempt of a group
        # commit is its ``write`` (the bounded sink call); it replays the spool.
        self._policy = pipeline.policy
        self._token = Stop()  # never a deadline: close() lets writes in flight finish
        self._replay_policy = pipeline.policy if pipeline.spool is not None else None

    @classmethod
    def for_target(
        cls,
        *,
        pool: Any = None,
        transport: str | None = None,
        write_timeout_secs: float,
        spool_dir: Any = None,
        spool_max_bytes: int = 256 * 1024 * 1024,
        max_writers: int = DEFAULT_MAX_WRITERS,
    ) -> CollectorDelivery:
        """PostgreSQL through ``pool`` (an asyncpg pool or DSN), or the NATS bus."""
        settings = AnalyticsConfig(
            service_name="analytics-collect",
            transport=transport,
            write_timeout_secs=write_timeout_secs,
            # Binary COPY where the server takes it (PGlite does not): see _store_now.
            write_method="auto",
            spool_dir=spool_dir,
            spool_max_bytes=spool_max_bytes,
            spool_after_failures=1,
        )
        return cls(build_pipeline(settings, pool), max_writers=max_writers)

    # -- encoding: the worker's own encoder (``RowEncoder.encode_into``) ------------------

    def encode(self, events: Sequence[Enriched]) -> Encoded:
        """Rows for a request's enriched events, by the worker's encoder: the same
        ``data`` byte for byte. The collector's part is only what differs by source: the
        row's service and ``_meta`` come from the request (its envelope's host and
        environment; an empty host is left out), not from one client's settings."""
        meta_json: dict[int, bytes] = {}  # per ClientMetadata object (enrich shares them)
        encode_meta = _encode_meta
        items: list[EncodeItem] = []
        append = items.append
        for _index, enriched, service, _event_json in events:
            metadata = enriched.metadata
            meta = meta_json.get(id(metadata))
            if meta is None:
                meta = meta_json[id(metadata)] = encode_meta(metadata)
            append((enriched.event, enriched.timestamp, enriched.event_id, service, meta))
        out = Encoded()
        rejected: list[Rejected] = []
        kept: list[int] = []
        refused_at: list[int] = []
        self._encoder.encode_into(items, out.rows, rejected, kept=kept, refused_at=refused_at)
        out.indices = [events[pos][0] for pos in kept]
        out.refused = [
            (events[pos][0], r.error) for pos, r in zip(refused_at, rejected, strict=True)
        ]
        return out

    # -- storing ---------------------------------------------------------------------------

    async def open(self) -> None:
        try:
            await self.sink.open()
        except (Exception, asyncio.CancelledError) as err:
            # Down at start: each request retries (then spool/503). A CancelledError that
            # the driver raised on its own is such a failure too, not a shutdown.
            if isinstance(err, asyncio.CancelledError) and _cancelling():
                raise
            logger.warning("analytics-collect: sink not available yet: %s", type(err).__name__)

    async def store(self, rows: list[Row]) -> StoreOutcome:
        """Store ``rows`` durably or raise :class:`Unavailable` (see the module doc).

        Group commit: concurrent requests' rows are written together, one statement
        and one transaction (one WAL flush) for all the requests that arrived while the
        previous write was in flight, and each request is answered when *its* rows are
        durable. The write runs in a task of its own, so a client that disconnects
        never cuts a write in progress (its rows are stored; a retry is a no-op).
        """
        if not rows:
            return StoreOutcome(0, 0, {})
        loop = asyncio.get_running_loop()
        future: asyncio.Future[StoreOutcome] = loop.create_future()
        self._pending.append((rows, future))
        self._writers = {w for w in self._writers if not w.done()}
        if len(self._writers) < self.max_writers:
            self._writers.add(asyncio.ensure_future(self._write_pending()))
        return await asyncio.shield(future)

    async def _write_pending(self) -> None:
        while self._pending:
            group: list[tuple[list[Row], asyncio.Future[StoreOutcome]]] = []
            size = 0
            while self._pending and (not group or size + len(self._pending[0][0]) <= _GROUP_ROWS):
                item = self._pending.popleft()
                group.append(item)
                size += len(item[0])
            all_rows = group[0][0] if len(group) == 1 else [r for rows, _ in group for r in rows]
            try:
                outcome = await self._store_group(all_rows)
            except BaseException as err:
                for _, fut in group:
                    if not fut.done():
                        fut.set_exception(err if isinstance(err, Unavailable) else Unavailable())
                if not isinstance(err, Exception):
                    # This writer is being cancelled (shutdown): no request may wait
                    # for ever on a writer that is gone.
                    while self._pending:
                        _, fut = self._pending.popleft()
                        if not fut.done():
                            fut.set_exception(Unavailable())
                    raise
                continue
            for rows, fut in group:
                if fut.done():
                    continue
                if outcome.spooled:
                    fut.set_result(StoreOutcome(0, len(rows), {}))
                    continue
                refused = outcome.refused
                if refused:  # which of *this* request's rows the database refused
                    refused = {r[1]: refused[r[1]] for r in rows if r[1] in refused}
                fut.set_result(StoreOutcome(len(rows) - len(refused), 0, refused))

    async def _store_group(self, rows: list[Row]) -> StoreOutcome:
        """:meth:`_store_now` for one group, counted and timed (``GET /stats``)."""
        self.group_commits += 1
        started = time.perf_counter()
        try:
            return await self._store_now(rows)
        finally:
            self.write_busy_seconds += time.perf_counter() - started

    async def _store_now(self, rows: list[Row]) -> StoreOutcome:
        last: BaseException | None = None
        for attempt in range(2):  # one immediate retry on a fresh connection
            try:
                # First attempt: the sink's fast path (PostgreSQL: binary COPY). A COPY
                # is all or nothing, and a row already stored (a client's retry, or the
                # same batch sent to two replicas) fails it with a unique violation on
                # ("timestamp", event_id), which makes the sink fall back to its
                # idempotent INSERT ... ON CONFLICT DO NOTHING. Our own retry is a
                # redelivery: the first attempt's outcome is unknown.
                outcome = await self._policy.write(rows, redelivery=attempt > 0, stop=self._token)
            except (Exception, asyncio.CancelledError) as err:
                if isinstance(err, asyncio.CancelledError) and _cancelling():
                    raise  # we are being cancelled; a stray one is just a failed attempt
                last = err
                self.counters.record_error(err)
                continue
            # Rows *newly* stored: a retried batch's rows are delivered again, not written.
            self.counters.written += (
                outcome.delivered if outcome.inserted is None else outcome.inserted
            )
            refused = {r.event_id: r.error for r in outcome.refused}
            if outcome.refused:
                await self.dead_letter(outcome.refused)
            return StoreOutcome(outcome.delivered, 0, refused)
        if last is not None and classify(last) is ErrorKind.NOT_MIGRATED:
            # Both attempts: a missing table, not a moment's state (PGlite's first use of
            # a fresh session can fail once). Not spooled: waiting never fixes it.
            raise NotMigrated from last
        if self.spool is not None:
            # One spool operation at a time (its file format has a single writer, as in
            # the worker): two group commits may fail together, and replay may run.
            async with self._spool_lock:
                spooled = await self.spool.append(rows)
            if spooled:
                self.counters.spooled += len(rows)
                return StoreOutcome(0, len(rows), {})
        logger.warning(
            "analytics-collect: %d events refused with 503 (%s)",
            len(rows),
            type(last).__name__ if last else "unknown",
        )
        raise Unavailable from last

    async def dead_letter(self, refused: Sequence[Rejected]) -> None:
        """Keep refused events inspectable; best effort (the client has its reasons)."""
        if not refused:
            return
        try:
            kept = await self.sink.dead_letter(refused, timeout=self.settings.write_timeout_secs)
            self.counters.rejected += len(refused) if kept is None else kept
        except (Exception, asyncio.CancelledError) as err:
            if isinstance(err, asyncio.CancelledError) and _cancelling():
                raise
            # Not stored: the client still has each reason; count and keep the evidence.
            self.counters.record_error(err)
            self.dead_letters_unstored += len(refused)
            self.recent_unstored.extend(refused)

    def refusal(
        self,
        raw: bytes,
        event_type: str | None,
        service: str,
        reason: str,
        *,
        key: bytes | None = None,
    ) -> Rejected:
        """A dead letter for an envelope refused by validation (raw payload, truncated).

        ``key`` identifies the refusal across a client's retries (``refusal_key``): the
        dead letter's id is derived from it, so a retried batch's refusals are kept once
        (``analytics_dead_letters.event_id`` is unique), not once per attempt.
        """
        event_id = (
            uuid.UUID(bytes=hashlib.blake2b(key, digest_size=16).digest(), version=4)
            if key is not None
            else uuid7(time.time_ns())
        )
        return storable(
            Rejected(
                _dt.datetime.now(_dt.UTC),
                event_id,
                event_type or "unknown",
                service,
                raw[:1024].decode("utf-8", "replace"),
                reason,
            )
        )

    async def replay_forever(self, stop: asyncio.Event) -> None:
        """Replay the spool into the sink whenever it is reachable, until ``stop``."""
        policy = self._replay_policy
        if policy is None:
            return

        async def between() -> None:
            return None

        token = Stop()  # the policy's stop token: requested when ``stop`` is set
        watcher = asyncio.ensure_future(stop.wait())
        watcher.add_done_callback(lambda _: token.request())
        try:
            await self._replay_until(policy, between, token, stop)
        finally:
            watcher.cancel()

    async def _replay_until(
        self,
        policy: DeliveryPolicy,
        between: Callable[[], Awaitable[None]],
        token: Stop,
        stop: asyncio.Event,
    ) -> None:
        while not stop.is_set():
            try:
                if policy.replay_wanted():
                    async with self._spool_lock:  # no append while segments are replayed
                        await policy.replay(between, token)
            except Exception:
                logger.exception("analytics-collect: spool replay failed; will retry")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), REPLAY_INTERVAL_SECS)

    async def close(self) -> None:
        if self._writers:
            await asyncio.wait(self._writers)  # let writes in flight finish
        if self.spool is not None:
            with contextlib.suppress(Exception):
                await self.spool.close()
        with contextlib.suppress(Exception):
            await self.sink.close()
