"""The unit layer's stand-ins: a virtual clock and an in-memory sink.

Both implement the write path's own seams (``ingest.clock.Clock``, ``ingest.sinks.Sink``),
so the worker and the delivery policy run unmodified; only time and the medium are
simulated. Backoff, circuit, deadline and cancellation behaviour that takes seconds
against a real database takes milliseconds here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from lib_analytics_core.ingest import spool_io
from lib_analytics_core.ingest._threads import in_thread
from lib_analytics_core.ingest.encoding import Rejected, Row
from lib_analytics_core.ingest.sinks import SinkOutcome

_T = TypeVar("_T")


class _ThreadCalls:
    """The spool's calls running in real threads, each as a future that completes
    when its call has returned to the event loop.

    Virtual time may only move when every task waits on the clock: a spool call still
    running in its thread is work in progress, and advancing the clock past it (a fixed
    real-time pause used to stand in for "the thread is done") let backoffs and
    timeouts expire on a busy machine that never would on an idle one.
    """

    pending: set[asyncio.Future[None]] = set()  # noqa: RUF012 - one registry per process
    real = staticmethod(in_thread)

    @classmethod
    async def counted(cls, fn: Callable[..., _T], *args: Any) -> _T:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        cls.pending.add(done)
        try:
            return await cls.real(fn, *args)
        finally:
            cls.pending.discard(done)
            done.set_result(None)

    @classmethod
    async def wait(cls) -> None:
        loop = asyncio.get_running_loop()
        while mine := {f for f in cls.pending if f.get_loop() is loop}:
            await asyncio.wait(mine)


setattr(spool_io, "in_thread", _ThreadCalls.counted)  # noqa: B010 - a private name, patched for the whole unit layer


class FakeClock:
    """Virtual monotonic time that moves only when the test says so (or, with
    :meth:`run_until`, jumps straight to the next sleeper's deadline)."""

    def __init__(self) -> None:
        self.t = 1000.0
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def now(self) -> float:
        return self.t

    async def wait(self, event: asyncio.Event | None, delay: float) -> None:
        if delay <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (self.t + delay, fut)
        self._sleepers.append(entry)
        waiters: list[asyncio.Future[object]] = [fut]  # type: ignore[list-item]
        if event is not None:
            waiters.append(asyncio.ensure_future(event.wait()))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters[1:]:
                w.cancel()
            with contextlib.suppress(ValueError):
                self._sleepers.remove(entry)

    async def settle(self) -> None:
        """Let every task run until it waits on the clock or the sink: spool calls in
        their real threads are waited for (a condition, not a pause)."""
        for _ in range(3):
            for _ in range(50):
                await asyncio.sleep(0)
            await _ThreadCalls.wait()

    async def advance(self, seconds: float) -> None:
        self.t += seconds
        for deadline, fut in list(self._sleepers):
            if deadline <= self.t and not fut.done():
                fut.set_result(None)
        await self.settle()

    async def run_until(self, predicate: Callable[[], bool], limit: float = 3600.0) -> None:
        """Advance virtual time, sleeper by sleeper, until ``predicate`` holds."""
        end = self.t + limit
        await self.settle()
        while not predicate():
            pending = [d for d, f in self._sleepers if not f.done()]
            if self.t >= end:
                raise AssertionError("virtual time limit reached")
            await self.advance(max(0.0, min(pending) - self.t) if pending else 0.001)


@dataclass
class Call:
    rows: int
    redelivery: bool
    timeout: float
    at: float


@dataclass
class FakeSink:
    """Keeps delivered rows in memory; fails, refuses or holds deliveries on demand."""

    clock: FakeClock
    name: str = "fake"
    stored: list[Row] = field(default_factory=list)
    dead: list[Rejected] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    fail_next: int = 0
    down: bool = False
    dead_letters_fail: bool = False
    refuse: Callable[[Row], bool] = lambda row: False
    gate: asyncio.Event | None = None
    active: int = 0
    peak: int = 0
    closed: bool = False

    async def open(self) -> None:
        pass

    async def deliver(
        self,
        rows: Sequence[Row],
        *,
        redelivery: bool,
        timeout: float,  # noqa: ASYNC109
    ) -> SinkOutcome:
        self.calls.append(Call(len(rows), redelivery, timeout, self.clock.now()))
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            if self.gate is not None:
                await self.gate.wait()
            if self.down or self.fail_next > 0:
                self.fail_next = max(0, self.fail_next - 1)
                raise ConnectionError("sink unavailable")
            refused = [r for r in rows if self.refuse(r)]
            have = {r[1] for r in self.stored}
            for r in rows:
                if not self.refuse(r) and r[1] not in have:  # idempotent by event id
                    self.stored.append(r)
            return SinkOutcome(
                len(rows) - len(refused),
                [Rejected(r[0], r[1], r[2], r[3], r[5], "refused", "22000") for r in refused],
            )
        finally:
            self.active -= 1

    async def dead_letter(self, refused: Sequence[Rejected], *, timeout: float) -> None:  # noqa: ASYNC109
        if self.down or self.dead_letters_fail:
            raise ConnectionError("dead-letter store unavailable")
        self.dead.extend(refused)

    async def close(self) -> None:
        self.closed = True
