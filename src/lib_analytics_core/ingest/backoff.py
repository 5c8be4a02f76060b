"""Exponential backoff with "equal" jitter: the one schedule every writer retries on.

The worker's and the collector's delivery policy (``delivery``) and the bus consumer's
loops (connect, fetch, nak delays: through the policy it gets from ``pipeline``) all
wait by it, so an outage is retried on one schedule whoever writes.
"""

from __future__ import annotations

import random

__all__ = ["Backoff"]


class Backoff:
    """Exponential backoff with "equal" jitter over consecutive failures: the one used
    by the worker's delivery and by every ``analytics-ingest`` loop.

    The n-th consecutive failure waits between half and all of
    ``min(maximum, initial * 2**(n-1))``: spread out (replicas do not retry in step) but
    never shorter than half the nominal delay.
    """

    __slots__ = ("_initial", "_maximum", "_rng", "failures")

    def __init__(self, initial: float, maximum: float, *, rng: random.Random | None = None) -> None:
        self._initial = initial
        self._maximum = maximum
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrets
        self.failures = 0

    def delay(self, attempt: int) -> float:
        ceiling = min(self._maximum, self._initial * (2.0 ** min(attempt - 1, 30)))
        return float(ceiling * (0.5 + self._rng.random() / 2))

    def fail(self) -> float:
        """Count one more consecutive failure; the delay before the next attempt."""
        self.failures += 1
        return self.delay(self.failures)

    def succeed(self) -> int:
        """Reset; returns how many failures in a row there had been."""
        n, self.failures = self.failures, 0
        return n
