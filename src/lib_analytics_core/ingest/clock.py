"""The clock the batching loop and the delivery policy read, injectable for tests.

Owns: "what time is it" (monotonic seconds) and "wait this long unless woken". The
production clock is the running event loop's; the unit tests use a virtual clock that
advances instantly, so backoff, circuit and deadline behaviour is tested in
milliseconds instead of seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

__all__ = ["Clock", "LoopClock"]


class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds."""

    async def wait(self, event: asyncio.Event | None, delay: float) -> None:
        """Return after ``delay`` seconds, or earlier once ``event`` is set."""


class LoopClock:
    """The running loop's monotonic clock (immune to wall-clock jumps)."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def wait(self, event: asyncio.Event | None, delay: float) -> None:
        if event is None:
            await asyncio.sleep(delay)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), delay)
