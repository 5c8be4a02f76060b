"""The producer side: ``AnalyticsClient.track()`` and its no-op twin.

``track()`` does the least work that preserves the event: take the wall-clock
timestamp, append ``(timestamp, event)`` to a bounded deque, and wake the worker when
a batch is ready. Everything else (ids, metadata, JSON encoding, sampling, privacy
hooks) happens in the worker, off the request path. It never blocks, never awaits and
never raises for runtime reasons: a full queue is counted, a dead worker is counted.
"""

from __future__ import annotations

import dataclasses
import datetime
import time
from typing import TYPE_CHECKING, Any

from .._config import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_FLUSH_INTERVAL_SECS,
    AnalyticsConfig,
    ClientMetadata,
)
from .._errors import ConfigurationError
from .channel import EventChannel
from .worker_config import WorkerConfig

if TYPE_CHECKING:
    from ..events.base import Event

__all__ = ["AnalyticsClient", "NoopClient"]

_time_ns = time.time_ns
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


class AnalyticsClient:
    """Non-blocking event tracking, safe from any thread and from inside an event loop.

    Create one per process (at start-up) and share it; pair it with one
    :class:`~lib_analytics_core.AnalyticsWorker` that drains its queue.
    """

    __slots__ = ("_batch_size", "_capacity", "_channel", "_config", "_enabled", "_items")

    def __init__(self, config: AnalyticsConfig | None = None) -> None:
        self._config = config if config is not None else AnalyticsConfig()
        self._channel = EventChannel(capacity=self._config.queue_capacity)
        self._items = self._channel.items
        self._capacity = self._config.queue_capacity
        self._batch_size = self._config.batch_size
        self._enabled = self._config.enabled

    @classmethod
    def new(
        cls,
        batch_size: int = DEFAULT_BATCH_SIZE,
        flush_interval_secs: float = DEFAULT_FLUSH_INTERVAL_SECS,
        **options: Any,
    ) -> tuple[AnalyticsClient, WorkerConfig]:
        """The seed's constructor: ``client, cfg = AnalyticsClient.new(100, 10)``.

        Returns the client and the :class:`WorkerConfig` to hand to
        ``AnalyticsWorker(cfg, pool)``. Any other :class:`AnalyticsConfig` field can be
        passed as a keyword.
        """
        config = AnalyticsConfig(
            batch_size=batch_size, flush_interval_secs=flush_interval_secs, **options
        )
        client = cls(config)
        return client, client.worker_config()

    def worker_config(self) -> WorkerConfig:
        """The receiving end of this client's queue plus the settings, for a worker."""
        return WorkerConfig(settings=self._config, channel=self._channel)

    @property
    def config(self) -> AnalyticsConfig:
        return self._config

    @property
    def metadata(self) -> ClientMetadata:
        return self._config.metadata

    def track(self, event: Event) -> None:
        """Queue ``event`` for writing. Returns at once; never raises for runtime reasons.

        The timestamp is taken now. If the queue is full (the database has been down
        for a while and no spool is configured) the event is dropped and counted in
        ``worker.stats().dropped``.
        """
        if not self._enabled:
            return
        items = self._items
        if len(items) >= self._capacity:
            self._channel.drop()
            return
        items.append((_time_ns(), event))
        n = len(items)
        if n == 1 or (n >= self._batch_size and not self._channel.wake_pending):
            self._channel.wake()

    def track_if(self, condition: object, event: Event) -> None:
        """``track(event)`` when ``condition`` is truthy; a readable guard for call sites."""
        if condition:
            self.track(event)

    def track_at(self, event: Event, timestamp: datetime.datetime) -> None:
        """Queue ``event`` as having happened at ``timestamp`` (timezone-aware).

        For backfills, imports and simulations: the event takes the same path as
        ``track()`` but keeps the given time. A naive datetime is a programming error
        and raises :class:`ConfigurationError` (ambiguous times would corrupt buckets); so
        does anything that is not a ``datetime`` (a string, a number).
        """
        if not isinstance(timestamp, datetime.datetime):
            raise ConfigurationError(
                f"track_at() needs a timezone-aware datetime, got {type(timestamp).__name__}"
            )
        if timestamp.tzinfo is None:
            raise ConfigurationError("track_at() needs a timezone-aware datetime, not a naive one")
        if not self._enabled:
            return
        delta = timestamp - _EPOCH
        ts_ns = (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
        items = self._items
        if len(items) >= self._capacity:
            self._channel.drop()
            return
        items.append((ts_ns, event))
        n = len(items)
        if n == 1 or (n >= self._batch_size and not self._channel.wake_pending):
            self._channel.wake()

    @property
    def queue_depth(self) -> int:
        """Events waiting for the worker right now."""
        return len(self._items)

    @property
    def dropped(self) -> int:
        """Events dropped because the queue was full."""
        return self._channel.dropped


class NoopClient(AnalyticsClient):
    """A client that accepts and discards everything: for tests and disabled analytics.

    It is a real ``AnalyticsClient`` (so type hints and ``isinstance`` checks hold) whose
    ``track()`` does nothing; it needs no worker.
    """

    __slots__ = ()

    def __init__(self, config: AnalyticsConfig | None = None) -> None:
        base = config if config is not None else AnalyticsConfig()
        super().__init__(dataclasses.replace(base, enabled=False))

    def track(self, event: Event) -> None:
        """Discard the event."""

    def track_if(self, condition: object, event: Event) -> None:
        """Discard the event."""

    def track_at(self, event: Event, timestamp: datetime.datetime) -> None:
        """Discard the event."""
