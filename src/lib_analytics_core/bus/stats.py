"""What an ``analytics-ingest`` process reports: counters, lag and its health.

How the numbers add up, for one process (each replica process reports its own; the
stream-wide view is ``analytics-bus status``): every message a replica fetched ends
as exactly one of ``messages`` (rows stored or dead-lettered, then acknowledged),
``malformed`` (could not be decoded: terminated, never retried), ``poisoned`` (kept
failing: rows dead-lettered, acknowledged; also counted in ``messages``) or a failed attempt
counted in ``failed_batches`` (not acknowledged: JetStream redelivers it, and
``redelivered_messages`` counts it again when it comes back).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["IngestStats"]


@dataclass(frozen=True, slots=True)
class IngestStats:
    """A snapshot of one ingest process (all its pull loops)."""

    rows_written: int
    """Rows the database accepted (rows already present from an earlier delivery count)."""
    dead_lettered: int
    """Rows stored in ``analytics_dead_letters``: refused by the database (bisected out of
    their batch) or refused by a producer and published as dead letters."""
    messages: int
    """Messages acknowledged after their rows were committed."""
    batches: int
    """Successful writes (one per fetch, covering up to ``fetch_batch`` messages)."""
    failed_batches: int
    """Writes that failed (database down, timeout): their messages were not acknowledged."""
    redelivered_messages: int
    """Messages received that had been delivered before (a crash, a failed write, an
    expired ack_wait): their rows were written idempotently."""
    malformed: int
    """Messages that could not be decoded (not this library's format, or a version this
    reader does not know): terminated so they are not redelivered, and logged."""
    poisoned: int
    """Messages that kept failing with an error that is not an outage after several
    deliveries: their rows were dead-lettered (with the error) and the message
    acknowledged, so the consumer settles."""
    pending: int
    """Consumer lag: messages in the stream not yet delivered to any replica."""
    ack_pending: int
    """Messages delivered to replicas and not yet acknowledged."""
    rows_per_sec: float
    """Rows written per second over the last refresh interval (a few seconds)."""
    connected: bool
    """Connected to NATS right now."""
    healthy: bool
    """Connected, the last fetch reached the consumer, and the last write (if any)
    succeeded. False while the stream or consumer is missing or the database is down."""
    last_error: str | None
    last_error_at: float
    """Unix time of the last error (0 if none)."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
