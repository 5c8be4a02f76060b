"""Settings of one ``analytics-ingest`` process: :class:`IngestConfig`.

:class:`BusConfig` (where the bus is, the stream's and consumer's shape) lives with the
producer, in ``ingest/sinks/nats_config.py``; it is re-exported here, where operators
and the ``analytics-ingest``/``analytics-bus`` commands have always found it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .._config import AnalyticsConfig
from .._errors import ConfigurationError
from ..ingest.sinks.nats_config import (
    BUS_ENV_VARIABLES,
    DEFAULT_ACK_WAIT_SECS,
    DEFAULT_DEAD_LETTER_PREFIX,
    DEFAULT_DUPLICATE_WINDOW_SECS,
    DEFAULT_DURABLE,
    DEFAULT_FETCH_BATCH,
    DEFAULT_FETCH_WAIT_SECS,
    DEFAULT_MAX_ACK_PENDING,
    DEFAULT_MAX_AGE_SECS,
    DEFAULT_MAX_BYTES,
    DEFAULT_STREAM,
    DEFAULT_SUBJECT_PREFIX,
    PAYLOAD_HEADROOM,
    BusConfig,
    subject_token,
)

__all__ = [
    "BUS_ENV_VARIABLES",
    "DEFAULT_ACK_WAIT_SECS",
    "DEFAULT_DEAD_LETTER_PREFIX",
    "DEFAULT_DUPLICATE_WINDOW_SECS",
    "DEFAULT_DURABLE",
    "DEFAULT_FETCH_BATCH",
    "DEFAULT_FETCH_WAIT_SECS",
    "DEFAULT_MAX_ACK_PENDING",
    "DEFAULT_MAX_AGE_SECS",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_STREAM",
    "DEFAULT_SUBJECT_PREFIX",
    "PAYLOAD_HEADROOM",
    "BusConfig",
    "IngestConfig",
    "subject_token",
]


@dataclass(frozen=True, kw_only=True)
class IngestConfig:
    """Settings of one ``analytics-ingest`` process."""

    database_url: str
    """Where rows go (the primary; never logged)."""
    bus: BusConfig = field(default_factory=BusConfig)
    concurrency: int = 1
    """Pull loops in this process, each with its own database connection. One process
    is one CPU; scale out with more processes (replicas) rather than a large value."""
    settings: AnalyticsConfig = field(default_factory=AnalyticsConfig)
    """Table, schema, write method, write timeout and backoff, as for the worker."""
    setup: bool = True
    """Create/update the stream and the consumer at start (``analytics-bus setup``)."""
    shutdown_timeout_secs: float = 30.0
    """How long stop() waits for in-flight batches before abandoning them (they are
    then redelivered to another replica: nothing is lost, only repeated)."""

    def __post_init__(self) -> None:
        if not self.database_url:
            raise ConfigurationError("database_url is required")
        if not isinstance(self.concurrency, int) or not 1 <= self.concurrency <= 64:
            raise ConfigurationError(f"concurrency must be 1..64, got {self.concurrency!r}")
        if self.shutdown_timeout_secs < 0:
            raise ConfigurationError("shutdown_timeout_secs must be >= 0")

    @property
    def write_timeout_secs(self) -> float:
        # Below ack_wait, so a hung write is abandoned before JetStream redelivers it.
        return min(self.settings.write_timeout_secs, self.bus.ack_wait_secs * 0.8)
