"""The spool as the worker sees it: every call runs in a thread, never on the loop.

Owns: moving each :class:`~.spool.Spool` operation (append with its fsyncs, directory
scans, segment reads and decoding, deletes) off the event loop, one at a time (the
worker awaits each call, so the file format's single-writer assumptions hold), and a
cached size for ``stats()``, so reading the counters never touches the disk.

Every call here returns, whatever the disk or the thread does (an ``OSError`` of any
errno, an exception nobody listed, even a ``CancelledError`` that is not a cancellation
of the caller): the failure is counted, logged at a bounded rate, and the call answers
"not done" (``append`` False, no segments, no claim, no more records). That is what
lets the delivery policy promise that every batch is released exactly once.

Must not touch: the file format (``spool``), retry decisions (``delivery``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

from ._threads import in_thread
from .rows import Row
from .spool import SegmentClaim, Spool
from .stats import LogLimiter

_T = TypeVar("_T")

logger = logging.getLogger("lib_analytics_core")

__all__ = ["AsyncSpool"]


class AsyncSpool:
    """Awaitable facade over a :class:`Spool`."""

    def __init__(self, spool: Spool) -> None:
        self.sync = spool
        self.disk_bytes = 0
        #: Spool calls that raised (any call; appends that returned False are counted
        #: by the spool itself in ``append_failures``).
        self.errors = 0
        self._log = LogLimiter(30.0)

    @property
    def failures(self) -> int:
        """Appends that failed plus other spool calls that raised."""
        return self.sync.append_failures + self.errors

    @property
    def full(self) -> bool:
        """The last append failed for lack of space (visible in ``stats()``)."""
        return self.sync.full

    async def _call(self, default: _T, fn: Callable[..., _T], *args: Any) -> _T:
        """``fn(*args)`` in a thread; ``default`` if it raised anything."""
        try:
            return await in_thread(fn, *args)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # we are being cancelled: not the disk's doing
            err: BaseException = RuntimeError("a spool call was cancelled in its thread")
        except Exception as exc:
            err = exc
        self.errors += 1
        if self._log.allow():
            logger.error(
                "analytics spool %s: %s failed: %s: %s; %d similar messages suppressed",
                self.sync.directory,
                getattr(fn, "__name__", "a call"),
                type(err).__name__,
                err,
                self._log.take_suppressed(),
            )
        return default

    @property
    def directory(self) -> Path:
        return self.sync.directory

    @property
    def max_bytes(self) -> int:
        return self.sync.max_bytes

    @property
    def corrupt_records(self) -> int:
        return self.sync.corrupt_records

    def may_have_pending(self) -> bool:
        """Cheap, no I/O: whether a replay pass could be worth a look."""
        return self.sync._pending or self.sync._next_scan <= time.monotonic()

    async def append(self, rows: list[Row]) -> bool:
        def work() -> bool:
            ok = self.sync.append(rows)
            self.disk_bytes = self.sync.disk_usage()
            return ok

        return await self._call(False, work)

    async def has_pending(self) -> bool:
        def work() -> bool:
            pending = self.sync.has_pending()
            self.disk_bytes = self.sync.disk_usage()  # e.g. segments left by a crash
            return pending

        return await self._call(False, work)

    async def segments(self) -> list[Path]:
        return await self._call([], self.sync.segments)

    async def claim(self, path: Path) -> SegmentClaim | None:
        return await self._call(None, self.sync.claim, path)

    async def records(
        self, claim: SegmentClaim, start: int
    ) -> AsyncIterator[tuple[int, list[Row]]]:
        """The claim's records from ``start`` on, each read and decoded in a thread.

        A read that fails ends the iteration with ``claim.incomplete`` set: the segment
        must then stay on disk (never be finished and deleted) for a later pass."""
        it = claim.records(start)
        done: Any = object()
        failed: Any = object()
        while True:
            item = await self._call(failed, next, it, done)
            if item is failed:
                claim.incomplete = True
                return
            if item is done:
                return
            yield item

    async def finish(self, claim: SegmentClaim) -> None:
        def work() -> None:
            claim.finish()
            self.disk_bytes = self.sync.disk_usage()

        await self._call(None, work)

    async def release(self, claim: SegmentClaim) -> None:
        await self._call(None, claim.release)

    def note_idle(self) -> None:
        self.sync.note_idle()

    async def close(self) -> None:
        await self._call(None, self.sync.close)
