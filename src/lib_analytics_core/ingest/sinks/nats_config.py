"""Bus settings: :class:`BusConfig`, where the bus is and how its stream and consumer are
shaped, shared by the producer (:class:`~.nats.NatsSink`), ``analytics-bus setup`` and
``analytics-ingest``. Its home is the sink side so that ``ingest`` never imports ``bus``;
``bus.config`` re-exports it beside ``IngestConfig`` (one ``analytics-ingest`` process).

Every default is a named constant with the reason for its value, pinned by a test.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..._config import env_values
from ..._errors import ConfigurationError

__all__ = [
    "BUS_ENV_VARIABLES",
    "DEFAULT_ACK_WAIT_SECS",
    "DEFAULT_DUPLICATE_WINDOW_SECS",
    "DEFAULT_FETCH_BATCH",
    "DEFAULT_MAX_ACK_PENDING",
    "DEFAULT_MAX_AGE_SECS",
    "DEFAULT_MAX_BYTES",
    "PAYLOAD_HEADROOM",
    "BusConfig",
    "subject_token",
]

#: Stream and subjects. One stream for every service: one consumer drains it, and
#: ``analytics.events.<service>`` still lets an operator filter or count per service.
DEFAULT_STREAM = "ANALYTICS_EVENTS"
DEFAULT_SUBJECT_PREFIX = "analytics.events"
DEFAULT_DEAD_LETTER_PREFIX = "analytics.deadletters"
DEFAULT_DURABLE = "analytics-ingest"
#: A backlog older than a week is dropped by the server: a week covers a long weekend's
#: database outage with margin, and bounds how stale a replay can be.
DEFAULT_MAX_AGE_SECS = 7 * 24 * 3600.0
#: 10 GiB of backlog: about 20 million events of ~500 bytes, i.e. hours of a heavy
#: fleet's traffic while the database is down. When full, new publishes are *refused*
#: (discard=new), so producers retry/spool instead of the server deleting unwritten events.
DEFAULT_MAX_BYTES = 10 * 1024**3
#: JetStream de-duplicates message ids published within this window (the server's own
#: default). It covers a producer's retries with backoff (capped at 30 s); replays from
#: a disk spool after a longer outage fall outside it and are de-duplicated by the
#: database's ``ON CONFLICT`` on ``("timestamp", event_id)`` instead.
DEFAULT_DUPLICATE_WINDOW_SECS = 120.0
#: A fetched message not acknowledged within this time is redelivered to another
#: replica. Longer than a normal write (a 20,000-row COPY takes well under a second
#: here) and than the writer's timeout, so a slow but live write is not duplicated.
DEFAULT_ACK_WAIT_SECS = 60.0
#: Messages handed out and not yet acknowledged, across all replicas. Bounds memory in
#: the replicas and how much is redelivered after a crash (~2,000 rows per message).
DEFAULT_MAX_ACK_PENDING = 256
#: Messages one replica fetches and writes as one batch (about 16,000 rows when
#: producers are busy): large enough to amortise the COPY, small enough to retry cheaply.
DEFAULT_FETCH_BATCH = 8
#: How long one fetch waits for messages before the loop checks for shutdown.
DEFAULT_FETCH_WAIT_SECS = 1.0
#: Bytes kept free below the server's max_payload for headers and framing.
PAYLOAD_HEADROOM = 4096

_SUBJECT_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def subject_token(service: str) -> str:
    """``service`` as one subject token: NATS forbids dots, spaces and wildcards there.

    The row keeps the real service name; the subject is only for routing and counting,
    so a lossy mapping (``"a.b c"`` → ``"a_b_c"``) is harmless.
    """
    return _SUBJECT_UNSAFE.sub("_", service) or "_"


def _split_servers(transport: str) -> tuple[str, ...]:
    return tuple(url.strip() for url in transport.split(",") if url.strip())


@dataclass(frozen=True, kw_only=True)
class BusConfig:
    """Where the bus is and how its stream and consumer are shaped."""

    servers: tuple[str, ...] = ("nats://127.0.0.1:4222",)
    """NATS URLs; several for a cluster (the client fails over between them)."""
    stream: str = DEFAULT_STREAM
    subject_prefix: str = DEFAULT_SUBJECT_PREFIX
    dead_letter_prefix: str = DEFAULT_DEAD_LETTER_PREFIX
    durable: str = DEFAULT_DURABLE
    """The one durable pull consumer every ``analytics-ingest`` replica shares."""
    replicas: int | None = None
    """Stream replicas; None: 3 when the servers form a cluster of 3 or more, else 1."""
    max_age_secs: float = DEFAULT_MAX_AGE_SECS
    max_bytes: int = DEFAULT_MAX_BYTES
    duplicate_window_secs: float = DEFAULT_DUPLICATE_WINDOW_SECS
    ack_wait_secs: float = DEFAULT_ACK_WAIT_SECS
    max_ack_pending: int = DEFAULT_MAX_ACK_PENDING
    fetch_batch: int = DEFAULT_FETCH_BATCH
    fetch_wait_secs: float = DEFAULT_FETCH_WAIT_SECS
    connect_timeout_secs: float = 5.0
    """How long the first connection may take (reconnections then retry forever)."""

    def __post_init__(self) -> None:
        if not self.servers or not all(s.startswith(("nats://", "tls://")) for s in self.servers):
            raise ConfigurationError(f"bus servers must be nats:// URLs, got {self.servers!r}")
        if self.replicas is not None and self.replicas not in (1, 3, 5):
            raise ConfigurationError(f"replicas must be 1, 3 or 5, got {self.replicas!r}")
        for name in (
            "max_age_secs",
            "duplicate_window_secs",
            "ack_wait_secs",
            "fetch_wait_secs",
            "connect_timeout_secs",
        ):
            value = getattr(self, name)
            if not isinstance(value, int | float) or value <= 0:
                raise ConfigurationError(f"{name} must be a positive number, got {value!r}")
        for name in ("max_bytes", "max_ack_pending", "fetch_batch"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigurationError(f"{name} must be a positive integer, got {value!r}")
        if self.duplicate_window_secs > self.max_age_secs:
            raise ConfigurationError("duplicate_window_secs must be <= max_age_secs")
        if self.fetch_batch > self.max_ack_pending:
            raise ConfigurationError("fetch_batch must be <= max_ack_pending")
        if "." in self.stream or " " in self.stream or not self.stream:
            raise ConfigurationError(f"invalid stream name {self.stream!r}")

    @classmethod
    def from_transport(cls, transport: str, **overrides: object) -> BusConfig:
        """Settings for ``AnalyticsConfig.transport`` (comma-separated NATS URLs)."""
        return cls(servers=_split_servers(transport), **overrides)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> BusConfig:
        """``ANALYTICS_TRANSPORT`` (the NATS URLs), ``ANALYTICS_BUS_STREAM``,
        ``ANALYTICS_BUS_DURABLE``, ``ANALYTICS_BUS_REPLICAS``, ``ANALYTICS_BUS_ACK_WAIT_SECS``,
        ``ANALYTICS_BUS_MAX_ACK_PENDING``, ``ANALYTICS_BUS_FETCH_BATCH``,
        ``ANALYTICS_BUS_MAX_BYTES``, ``ANALYTICS_BUS_MAX_AGE_SECS``. Overrides win."""
        env = os.environ if environ is None else environ
        return cls(**env_values(_ENV_READERS, env, overrides))  # type: ignore[arg-type]

    def events_subject(self, service: str) -> str:
        return f"{self.subject_prefix}.{subject_token(service)}"

    def dead_letter_subject(self, service: str) -> str:
        return f"{self.dead_letter_prefix}.{subject_token(service)}"

    @property
    def stream_subjects(self) -> list[str]:
        return [f"{self.subject_prefix}.>", f"{self.dead_letter_prefix}.>"]


#: ``BusConfig`` field -> (environment variable, parser): the one list ``from_env`` reads
#: and ``analytics-ingest --help``/``analytics-bus --help`` print.
_ENV_READERS: dict[str, tuple[str, Callable[[str], object]]] = {
    "servers": ("ANALYTICS_TRANSPORT", _split_servers),
    "stream": ("ANALYTICS_BUS_STREAM", str),
    "durable": ("ANALYTICS_BUS_DURABLE", str),
    "replicas": ("ANALYTICS_BUS_REPLICAS", int),
    "ack_wait_secs": ("ANALYTICS_BUS_ACK_WAIT_SECS", float),
    "max_ack_pending": ("ANALYTICS_BUS_MAX_ACK_PENDING", int),
    "fetch_batch": ("ANALYTICS_BUS_FETCH_BATCH", int),
    "max_bytes": ("ANALYTICS_BUS_MAX_BYTES", int),
    "max_age_secs": ("ANALYTICS_BUS_MAX_AGE_SECS", float),
}
#: Every environment variable the bus settings read, in order.
BUS_ENV_VARIABLES = tuple(name for name, _ in _ENV_READERS.values())
