"""The collector's settings: one frozen, keyword-only dataclass with documented defaults.

Why these numbers:

* ``DEFAULT_PORT`` 8094 is the seed family's ingestion port, so a client built on the
  seed's library can point at this collector unchanged.
* ``DEFAULT_MAX_BODY_BYTES`` 8 MiB: a full batch of ``DEFAULT_MAX_EVENTS`` seed-sized
  events (~500 bytes each) is ~5 MB; anything larger is a misbehaving client (413).
* ``DEFAULT_MAX_EVENTS`` 10,000 per request: one idempotent INSERT of that many rows is
  ~0.1 s on a small server, well inside ``write_timeout_secs``; the seed's client sends
  100.
* ``DEFAULT_RATE_EVENTS_PER_SEC`` 20,000 per token with a burst of
  ``DEFAULT_RATE_BURST_EVENTS`` 100,000: several times what one service tracks, so only a
  runaway loop meets it (429 with ``Retry-After``); 0 disables the limit.
* ``DEFAULT_RETRY_AFTER_SECS`` 5: what a 503 (database down, no spool room) tells the
  client to wait.
* ``DEFAULT_POOL_SIZE`` 8 connections: one per concurrent request writing, on a server
  with a few cores; more only queue in PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .._errors import ConfigurationError
from .tokens import TokenTable

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_EVENTS",
    "DEFAULT_POOL_SIZE",
    "DEFAULT_PORT",
    "DEFAULT_RATE_BURST_EVENTS",
    "DEFAULT_RATE_EVENTS_PER_SEC",
    "DEFAULT_RETRY_AFTER_SECS",
    "CollectorConfig",
]

DEFAULT_PORT = 8094
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
DEFAULT_MAX_EVENTS = 10_000
DEFAULT_RATE_EVENTS_PER_SEC = 20_000.0
DEFAULT_RATE_BURST_EVENTS = 100_000
DEFAULT_RETRY_AFTER_SECS = 5
DEFAULT_POOL_SIZE = 8
#: Seconds one write may take before it counts as failed (then: spool, else 503).
DEFAULT_WRITE_TIMEOUT_SECS = 10.0


@dataclass(frozen=True, kw_only=True)
class CollectorConfig:
    """What the collector enforces and where it writes."""

    tokens: TokenTable
    """Write tokens and the services each may write (``ANALYTICS_COLLECT_TOKENS``)."""
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_events: int = DEFAULT_MAX_EVENTS
    rate_events_per_sec: float = DEFAULT_RATE_EVENTS_PER_SEC
    rate_burst_events: int = DEFAULT_RATE_BURST_EVENTS
    retry_after_secs: int = DEFAULT_RETRY_AFTER_SECS
    write_timeout_secs: float = DEFAULT_WRITE_TIMEOUT_SECS
    pool_size: int = DEFAULT_POOL_SIZE
    spool_dir: Path | None = None
    """The collector's own durable spool: with the database down, accepted events are
    fsync'd here (then acknowledged) and replayed on recovery. None: answer 503."""
    spool_max_bytes: int = 256 * 1024 * 1024
    segment_personal_data: str = "drop"
    """Segment traits that identify a person (``segment.PERSONAL_TRAITS``) and
    ``context.ip``: ``"drop"`` (default, as ``AuthLoginAttempt.email``) or ``"keep"``."""

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_events", "rate_burst_events", "pool_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigurationError(f"{name} must be a positive integer, got {value!r}")
        if self.rate_events_per_sec < 0:
            raise ConfigurationError("rate_events_per_sec must be >= 0 (0: no limit)")
        if self.segment_personal_data not in ("drop", "keep"):
            raise ConfigurationError("segment_personal_data is 'drop' or 'keep'")
        if self.retry_after_secs < 1 or self.write_timeout_secs <= 0:
            raise ConfigurationError("retry_after_secs >= 1 and write_timeout_secs > 0")
