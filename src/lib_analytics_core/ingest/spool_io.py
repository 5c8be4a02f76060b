"""The spool as the worker sees it: every call runs in a thread, never on the loop.

Owns: moving each :class:`~.spool.Spool` operation (append with its fsyncs, directory
scans, segment reads and decoding, deletes) off the event loop, one at a time (the
worker awaits each call, so the file format's single-writer assumptions hold), and a
cached size for ``stats()``, so reading the counters never touches the disk.

Must not touch: the file format (``spool``), retry decisions (``delivery``).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

from ._threads import in_thread
from .encoding import Row
from .spool import SegmentClaim, Spool

__all__ = ["AsyncSpool"]


class AsyncSpool:
    """Awaitable facade over a :class:`Spool`."""

    def __init__(self, spool: Spool) -> None:
        self.sync = spool
        self.disk_bytes = 0

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

        return await in_thread(work)

    async def has_pending(self) -> bool:
        def work() -> bool:
            pending = self.sync.has_pending()
            self.disk_bytes = self.sync.disk_usage()  # e.g. segments left by a crash
            return pending

        return await in_thread(work)

    async def segments(self) -> list[Path]:
        return await in_thread(self.sync.segments)

    async def claim(self, path: Path) -> SegmentClaim | None:
        return await in_thread(self.sync.claim, path)

    async def records(
        self, claim: SegmentClaim, start: int
    ) -> AsyncIterator[tuple[int, list[Row]]]:
        """The claim's records from ``start`` on, each read and decoded in a thread."""
        it = claim.records(start)
        done = object()
        while True:
            item = await in_thread(next, it, done)
            if item is done:
                return
            yield item

    async def finish(self, claim: SegmentClaim) -> None:
        def work() -> None:
            claim.finish()
            self.disk_bytes = self.sync.disk_usage()

        await in_thread(work)

    async def release(self, claim: SegmentClaim) -> None:
        await in_thread(claim.release)

    def note_idle(self) -> None:
        self.sync.note_idle()

    async def close(self) -> None:
        await in_thread(self.sync.close)
