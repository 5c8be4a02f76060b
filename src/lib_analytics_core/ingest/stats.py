"""Counters the write path keeps, the immutable snapshot ``stats()`` returns, and the
rate limiter that keeps its own logging bounded during an outage.

One set of counters for every writer: the worker's delivery policy and every
``analytics-ingest`` loop count rows written, dead-lettered, batches, failed attempts
and the last error in the same :class:`Counters` (the ingest service adds only what
is about messages). The counters are plain integers written only by one event loop;
``stats()`` reads them from any thread."""

from __future__ import annotations

import time
from dataclasses import dataclass

from .errors import describe

__all__ = ["Counters", "LogLimiter", "ShutdownReport", "WorkerStats"]


@dataclass(frozen=True, slots=True)
class ShutdownReport:
    """What shutdown achieved: how many events were written, spooled, or given up on."""

    written: int
    spooled: int
    lost: int
    timed_out: bool


@dataclass(frozen=True, slots=True)
class WorkerStats:
    """A consistent-enough snapshot of the pipeline's counters.

    Every event ``track()`` accepted ends up in exactly one of: ``written``,
    ``rejected`` (dead-lettered), ``spooled`` (on disk, awaiting replay), ``lost``
    (shutdown ran out of time with no spool), ``sampled_out``/``hook_dropped`` (by
    configuration), or is still in ``queue_depth``/``in_flight``. ``dropped`` counts
    events ``track()`` refused because the queue was full, so
    ``tracked == written + rejected + spooled + lost + sampled_out + hook_dropped +
    queue_depth + in_flight + dropped`` once the worker is idle.

    ``replayed`` counts spooled rows later stored from the spool (by this process,
    including rows another process spooled); ``retried`` counts failed write attempts
    (each one retried, spooled or given up on); ``batches`` counts successful writes.
    """

    tracked: int
    written: int
    dropped: int
    retried: int
    rejected: int
    spooled: int
    replayed: int
    lost: int
    sampled_out: int
    hook_dropped: int
    batches: int
    queue_depth: int
    in_flight: int
    last_error: str | None
    last_error_at: float | None
    """Unix time of the last write error."""
    spool_corrupt: int = 0
    """Spool records found corrupt (torn or damaged) and skipped during replay."""
    spool_bytes: int = 0
    """Bytes currently held in the spool directory (0 without a spool)."""
    spool_failures: int = 0
    """Spool calls that failed (an append refused for the size cap or a disk error, a
    scan or replay read that raised). Each failed append kept its batch in memory."""
    spool_full: bool = False
    """The last append failed for lack of space (disk full, quota, ``spool_max_bytes``):
    while true, batches the sink cannot take wait in memory and the queue may drop."""
    replay_rejected: int = 0
    """Spooled rows the sink refused when replayed (dead-lettered; they were counted as
    ``spooled`` when they went to disk, so they are not in ``rejected``)."""
    dead_letter_retries: int = 0
    """Failed attempts to store dead letters that were retried (their own path: they
    never count in ``retried`` nor open the outage circuit)."""

    def as_dict(self) -> dict[str, int | float | str | bool | None]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


class Counters:
    """The worker's running totals (see :class:`WorkerStats` for what each means)."""

    __slots__ = (
        "batches",
        "dead_letter_retries",
        "hook_dropped",
        "last_error",
        "last_error_at",
        "last_write_ok",
        "lost",
        "rejected",
        "replay_rejected",
        "replayed",
        "retried",
        "sampled_out",
        "spooled",
        "taken",
        "written",
    )

    def __init__(self) -> None:
        self.taken = 0
        self.written = 0  # rows stored
        self.retried = 0  # failed write attempts
        self.rejected = 0  # rows dead-lettered
        self.spooled = 0
        self.replayed = 0
        self.replay_rejected = 0
        self.dead_letter_retries = 0
        self.lost = 0
        self.sampled_out = 0
        self.hook_dropped = 0
        self.batches = 0  # successful writes
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        #: The last write attempt succeeded (or none failed yet): health, not history.
        self.last_write_ok = True

    def snapshot(
        self,
        *,
        queue_depth: int,
        dropped: int,
        in_flight: int,
        spool_corrupt: int,
        spool_bytes: int,
        spool_failures: int = 0,
        spool_full: bool = False,
    ) -> WorkerStats:
        return WorkerStats(
            tracked=self.taken + queue_depth + dropped,
            written=self.written,
            dropped=dropped,
            retried=self.retried,
            rejected=self.rejected,
            spooled=self.spooled,
            replayed=self.replayed,
            lost=self.lost,
            sampled_out=self.sampled_out,
            hook_dropped=self.hook_dropped,
            batches=self.batches,
            queue_depth=queue_depth,
            in_flight=in_flight,
            last_error=self.last_error,
            last_error_at=self.last_error_at,
            spool_corrupt=spool_corrupt,
            spool_bytes=spool_bytes,
            spool_failures=spool_failures,
            spool_full=spool_full,
            replay_rejected=self.replay_rejected,
            dead_letter_retries=self.dead_letter_retries,
        )

    def record_error(self, err: BaseException, *, write_failed: bool = False) -> None:
        """Remember ``err`` as the last error (``describe``: bounded, never raises, no
        credentials); ``write_failed`` also marks the writer unhealthy until a write
        succeeds."""
        self.last_error = describe(err)
        self.last_error_at = time.time()
        if write_failed:
            self.last_write_ok = False


class LogLimiter:
    """At most one message per ``interval`` seconds; counts what it suppressed.

    Used for anything that can repeat once per batch during an outage (write failures,
    spool errors, rejections), so a database that is down for an hour produces a few
    hundred log lines, not one per batch, and never one per event.
    """

    __slots__ = ("_interval", "_next", "suppressed")

    def __init__(self, interval: float = 10.0) -> None:
        self._interval = interval
        self._next = 0.0
        self.suppressed = 0

    def allow(self) -> bool:
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self._interval
            return True
        self.suppressed += 1
        return False

    def take_suppressed(self) -> int:
        n, self.suppressed = self.suppressed, 0
        return n

    def reset(self) -> None:
        self._next = 0.0
        self.suppressed = 0
