"""Token buckets keyed by (service, error_type): the ApplicationError rate limit.

An error storm (a database outage logging one error per request) must not turn into
an event storm that fills the analytics queue and evicts the events that matter. Each
key gets ``burst`` tokens, refilled at ``rate_per_sec``; an error without a token is
counted as suppressed instead of tracked. The number of keys is bounded, so a flood
of distinct error types cannot grow memory either: beyond ``max_keys`` all new keys
share one overflow bucket.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable

__all__ = ["KeyedTokenBucket"]

_OVERFLOW = object()


class KeyedTokenBucket:
    """Per-key token buckets. Not thread-safe: callers hold a lock (``Handler.lock``)."""

    __slots__ = ("_buckets", "_burst", "_clock", "_max_keys", "_rate", "suppressed")

    def __init__(
        self,
        *,
        rate_per_sec: float,
        burst: int,
        max_keys: int = 1_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate_per_sec < 0 or burst < 1 or max_keys < 1:
            raise ValueError("rate_per_sec must be >= 0, burst and max_keys >= 1")
        self._rate = float(rate_per_sec)
        self._burst = float(burst)
        self._max_keys = max_keys
        self._clock = clock
        self._buckets: dict[object, list[float]] = {}
        self.suppressed = 0
        """Total calls refused so far (all keys)."""

    def allow(self, key: Hashable) -> bool:
        """Take a token for ``key`` if one is available."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._max_keys:
                key = _OVERFLOW
                bucket = self._buckets.get(key)
            if bucket is None:
                bucket = [self._burst, now]
                self._buckets[key] = bucket
        tokens, last = bucket
        tokens = min(self._burst, tokens + (now - last) * self._rate)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return True
        bucket[0] = tokens
        self.suppressed += 1
        return False
