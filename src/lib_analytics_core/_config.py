"""Configuration: one frozen, keyword-only dataclass with documented defaults.

Values are validated once, here, so nothing on the hot path ever has to check them.
The defaults are named constants (and pinned by a test) so they cannot drift silently.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ._errors import ConfigurationError
from .privacy import DEFAULT_BEFORE_TRACK

if TYPE_CHECKING:
    from .ingest.encoding import BeforeTrack

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_FLUSH_INTERVAL_SECS",
    "DEFAULT_MAX_BATCH_SIZE",
    "DEFAULT_MAX_EVENT_BYTES",
    "DEFAULT_QUEUE_CAPACITY",
    "DEFAULT_SHUTDOWN_TIMEOUT_SECS",
    "DEFAULT_SPOOL_MAX_BYTES",
    "AnalyticsConfig",
    "ClientMetadata",
]

#: Events per batch that trigger a write (the seed's 100).
DEFAULT_BATCH_SIZE = 100
#: Seconds the oldest waiting event may wait before its batch is written (the seed's 10 s).
DEFAULT_FLUSH_INTERVAL_SECS = 10.0
#: Cap on one write under sustained load: the worker takes up to this many waiting events
#: at once instead of falling behind in batch_size steps. 20,000 rows of ~500 bytes is a
#: ~10 MB COPY: per-statement costs (commit, WAL flush, trigger, partition routing) are
#: amortised (benchmark 2: 5,000-row COPYs reach 0.89x of one big COPY), while a retry or
#: the bisection of a refused row stays cheap. At most two batches are in memory.
DEFAULT_MAX_BATCH_SIZE = 20_000
#: Events held in memory at most. At ~1 KB per queued event object that is ~100 MB
#: in the worst case (a long outage without a spool); beyond it events are dropped
#: and counted instead of growing memory without bound (the seed's unbounded channel).
DEFAULT_QUEUE_CAPACITY = 100_000
#: An event whose encoded JSON is larger than this is rejected to the dead-letter table.
DEFAULT_MAX_EVENT_BYTES = 64 * 1024
#: How long shutdown (and the exit hook) may spend writing what is still queued.
DEFAULT_SHUTDOWN_TIMEOUT_SECS = 10.0
#: Disk the durable spool may use before it refuses (and counts) further batches.
DEFAULT_SPOOL_MAX_BYTES = 256 * 1024 * 1024
#: First retry delay after a failed write; doubles up to DEFAULT_MAX_BACKOFF_SECS.
DEFAULT_INITIAL_BACKOFF_SECS = 0.1
DEFAULT_MAX_BACKOFF_SECS = 30.0
#: A single write that takes longer than this is abandoned and retried.
DEFAULT_WRITE_TIMEOUT_SECS = 30.0
#: Retries before a failing batch is moved to the spool (when one is configured).
DEFAULT_SPOOL_AFTER_FAILURES = 2

WriteMethod = Literal["auto", "copy", "insert"]


@dataclass(frozen=True, slots=True)
class ClientMetadata:
    """Who produced an event: fixed per client, attached to every event by the worker."""

    service: str
    hostname: str
    environment: str | None = None
    release: str | None = None

    def as_json_dict(self) -> dict[str, str]:
        """The ``_meta`` object stored in each row's ``data`` (empty values omitted)."""
        out = {"host": self.hostname}
        if self.environment:
            out["env"] = self.environment
        if self.release:
            out["release"] = self.release
        return out


@dataclass(frozen=True, kw_only=True)
class AnalyticsConfig:
    """Everything the client and worker can be told. All fields have safe defaults.

    Environment variables are read only by :meth:`from_env`, once; never per event.
    """

    service_name: str = "unknown"
    """Default ``service`` column for events that do not name one themselves."""
    hostname: str = field(default_factory=socket.gethostname)
    environment: str | None = None
    release: str | None = None

    batch_size: int = DEFAULT_BATCH_SIZE
    flush_interval_secs: float = DEFAULT_FLUSH_INTERVAL_SECS
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    queue_capacity: int = DEFAULT_QUEUE_CAPACITY
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES

    write_method: WriteMethod = "auto"
    """``copy`` (binary COPY), ``insert`` (one array-parameter INSERT), or ``auto``:
    COPY unless the server cannot take it (PGlite/WASM builds)."""
    write_timeout_secs: float = DEFAULT_WRITE_TIMEOUT_SECS
    initial_backoff_secs: float = DEFAULT_INITIAL_BACKOFF_SECS
    max_backoff_secs: float = DEFAULT_MAX_BACKOFF_SECS

    shutdown_timeout_secs: float = DEFAULT_SHUTDOWN_TIMEOUT_SECS
    """Used by the exit hook and by ``shutdown()`` when no timeout is passed."""

    spool_dir: Path | None = None
    """Opt-in durable spool: batches that cannot be written are appended here and
    replayed, in order, after recovery (also after a crash and restart)."""
    spool_max_bytes: int = DEFAULT_SPOOL_MAX_BYTES
    spool_after_failures: int = DEFAULT_SPOOL_AFTER_FAILURES

    before_track: BeforeTrack | None = DEFAULT_BEFORE_TRACK
    """Runs in the worker (off the request path) on each event; may return a changed
    event, or None to drop it. The default is ``privacy.pii_policy()``: personal fields
    (``AuthLoginAttempt.email``) are dropped unless you choose otherwise. A hook you pass
    replaces it (compose ``pii_policy(...)`` into yours); ``None`` runs no hook at all and
    stores events as tracked. See ``lib_analytics_core.privacy``."""

    sample_rates: Mapping[str, float] = field(default_factory=dict)
    """Keep only this fraction of an event type (``{"api_request": 0.1}``); the rate is
    stored with each kept event so queries can scale counts back."""

    enabled: bool = True
    """False turns ``track()`` into a no-op (same as :class:`NoopClient`)."""

    transport: str | None = None
    """Where the worker delivers batches. ``None`` (the default): straight into
    PostgreSQL/TimescaleDB through the pool given to the worker. ``"nats://host:port"``
    (several comma-separated URLs for a cluster): publish encoded batches to a NATS
    JetStream stream, from which ``analytics-ingest`` writers store them (see
    ``docs/scaling.md``). ``"http://collector:8094"``: POST batches to an
    ``analytics-collect`` collector (``docs/collector.md``)."""

    maintainer: bool = True
    """Whether this process competes to keep the database's aggregates current (one
    maintainer per database is elected: ``schema/maintainer.py``, ``docs/operations.md``).
    Only a worker writing straight to PostgreSQL (``transport=None``) through a DSN or a
    pool hosts one. ``ANALYTICS_MAINTAINER=off`` in the environment turns it off
    whatever this says (``ANALYTICS_MAINTAINER=on`` does not turn it back on)."""

    def __post_init__(self) -> None:
        _positive_int("batch_size", self.batch_size)
        _positive_int("max_batch_size", self.max_batch_size)
        _positive_int("queue_capacity", self.queue_capacity)
        _positive_int("max_event_bytes", self.max_event_bytes)
        _positive_int("spool_max_bytes", self.spool_max_bytes)
        if self.spool_after_failures < 0:
            raise ConfigurationError("spool_after_failures must be >= 0")
        for name in (
            "flush_interval_secs",
            "write_timeout_secs",
            "initial_backoff_secs",
            "max_backoff_secs",
        ):
            value = getattr(self, name)
            if not isinstance(value, int | float) or value <= 0:
                raise ConfigurationError(f"{name} must be a positive number, got {value!r}")
        if self.shutdown_timeout_secs < 0:
            raise ConfigurationError("shutdown_timeout_secs must be >= 0")
        if self.batch_size > self.max_batch_size:
            raise ConfigurationError(
                f"batch_size ({self.batch_size}) must be <= max_batch_size ({self.max_batch_size})"
            )
        if self.max_batch_size > self.queue_capacity:
            raise ConfigurationError(
                f"max_batch_size ({self.max_batch_size}) must be <= queue_capacity "
                f"({self.queue_capacity})"
            )
        if self.initial_backoff_secs > self.max_backoff_secs:
            raise ConfigurationError("initial_backoff_secs must be <= max_backoff_secs")
        if self.write_method not in ("auto", "copy", "insert"):
            raise ConfigurationError(
                f"write_method must be auto, copy or insert, not {self.write_method!r}"
            )
        if not self.service_name or len(self.service_name) > 100:
            raise ConfigurationError("service_name must be 1-100 characters")
        for event_type, rate in self.sample_rates.items():
            if not 0.0 < rate <= 1.0:
                raise ConfigurationError(
                    f"sample rate for {event_type!r} must be in (0, 1], got {rate!r}"
                )
        _check_transport(self.transport)
        if self.before_track is not None and not callable(self.before_track):
            raise ConfigurationError("before_track must be callable")

    @property
    def metadata(self) -> ClientMetadata:
        """The per-client metadata attached to every event."""
        return ClientMetadata(
            service=self.service_name,
            hostname=self.hostname,
            environment=self.environment,
            release=self.release,
        )

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        **overrides: object,
    ) -> AnalyticsConfig:
        """Build a config from ``ANALYTICS_*`` variables, read once.

        ``ANALYTICS_SERVICE_NAME``, ``ANALYTICS_ENVIRONMENT``, ``ANALYTICS_RELEASE``,
        ``ANALYTICS_BATCH_SIZE``, ``ANALYTICS_FLUSH_INTERVAL_SECS``,
        ``ANALYTICS_QUEUE_CAPACITY``, ``ANALYTICS_SPOOL_DIR``, ``ANALYTICS_ENABLED``,
        ``ANALYTICS_TRANSPORT``.
        Keyword overrides win over the environment.
        """
        env = os.environ if environ is None else environ
        readers: dict[str, tuple[str, Callable[[str], object]]] = {
            "service_name": ("ANALYTICS_SERVICE_NAME", str),
            "environment": ("ANALYTICS_ENVIRONMENT", str),
            "release": ("ANALYTICS_RELEASE", str),
            "batch_size": ("ANALYTICS_BATCH_SIZE", int),
            "flush_interval_secs": ("ANALYTICS_FLUSH_INTERVAL_SECS", float),
            "queue_capacity": ("ANALYTICS_QUEUE_CAPACITY", int),
            "spool_dir": ("ANALYTICS_SPOOL_DIR", Path),
            "enabled": ("ANALYTICS_ENABLED", _parse_bool),
            "transport": ("ANALYTICS_TRANSPORT", str),
        }
        return cls(**env_values(readers, env, overrides))  # type: ignore[arg-type]


def env_values(
    readers: Mapping[str, tuple[str, Callable[[str], object]]],
    env: Mapping[str, str],
    overrides: Mapping[str, object],
) -> dict[str, object]:
    """Field values from environment variables (``field -> (VARIABLE, parser)``; unset or
    empty variables are skipped, a bad value names its variable), then ``overrides``.
    Every config class's ``from_env`` reads the environment this one way."""
    values: dict[str, object] = {}
    for name, (var, parse) in readers.items():
        raw = env.get(var)
        if not raw:
            continue
        try:
            values[name] = parse(raw)
        except ValueError as err:
            raise ConfigurationError(f"{var}={raw!r}: {err}") from err
    values.update(overrides)
    return values


def _parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true/false")


def _positive_int(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConfigurationError(f"{name} must be a positive integer, got {value!r}")


def _check_transport(transport: str | None) -> None:
    if transport is not None and transport.startswith(("http://", "https://")):
        return  # one collector URL (analytics-collect; a load balancer in front of N)
    if transport is not None and not all(
        url.strip().startswith(("nats://", "tls://")) for url in transport.split(",")
    ):
        raise ConfigurationError(
            f"transport must be None (direct to the database), nats:// URLs or an "
            f"http(s):// collector URL, not {transport!r}"
        )
