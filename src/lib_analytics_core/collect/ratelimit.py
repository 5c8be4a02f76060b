"""Per-token rate limit in events per second (a token bucket per grant key).

A request takes as many tokens as it carries events. When the bucket cannot cover it,
the request is refused whole (429) with ``Retry-After`` saying when it could: a partial
acceptance would make the client's retry resend events that were stored. The number of
keys is the number of configured tokens (+ anonymous), so memory is bounded by config.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

__all__ = ["EventRateLimit"]


class EventRateLimit:
    """Token buckets keyed by grant; single event loop, so no lock."""

    def __init__(
        self,
        *,
        rate_per_sec: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rate = float(rate_per_sec)
        self._burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, list[float]] = {}
        self.refused = 0

    def take(self, key: str, events: int) -> float:
        """Take ``events`` tokens; 0.0 when allowed, else the seconds to wait (>= 1)."""
        if self._rate <= 0:
            return 0.0
        now = self._clock()
        bucket = self._buckets.setdefault(key, [self._burst, now])
        tokens = min(self._burst, bucket[0] + (now - bucket[1]) * self._rate)
        bucket[1] = now
        need = min(float(events), self._burst)  # a batch above the burst waits for a full bucket
        if tokens >= need:
            bucket[0] = tokens - events if events <= self._burst else 0.0
            return 0.0
        bucket[0] = tokens
        self.refused += 1
        return max(1.0, math.ceil((need - tokens) / self._rate))
