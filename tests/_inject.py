"""The fault-injection layer: every I/O call site of the write path, failing on demand.

A :class:`Faults` plan names one call site and one error class; the site raises that
error on its next ``times`` calls (``-1``: until :meth:`Faults.heal`). The sites are the
real code's own seams, wrapped in place, so the real worker, the real spool and the
real ingest service run unmodified:

* spool: ``open`` (a segment created for appending, or opened for replay), ``write``
  and ``flush`` of a record, ``fsync``, ``rotate`` (closing a segment), ``replay``
  (reading a claimed segment), ``scan`` (the directory size/glob);
* sink: ``open``, ``deliver``, ``dead_letter``, ``close`` (:class:`FaultySink` wraps
  any sink, fake or real);
* NATS (:func:`patch_nats`): ``publish``, ``ack``, ``fetch``.

The error classes are the ones a hostile world produces: a full, broken, read-only or
forbidden disk; a full stream; a cancellation that nobody asked for; an exception class
nobody lists; a PostgreSQL error of a SQLSTATE no list names.
"""

from __future__ import annotations

import asyncio
import builtins
import errno
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import asyncpg
import pytest

from lib_analytics_core import BusError
from lib_analytics_core.ingest import spool as spool_module
from lib_analytics_core.ingest.sinks.base import Sink, SinkOutcome
from lib_analytics_core.ingest.spool import SegmentClaim, Spool


class UnlistedError(Exception):
    """An exception class no handler names."""


ERRORS: dict[str, Callable[[], BaseException]] = {
    "ENOSPC": lambda: OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)),
    "EIO": lambda: OSError(errno.EIO, os.strerror(errno.EIO)),
    "EROFS": lambda: OSError(errno.EROFS, os.strerror(errno.EROFS)),
    "EACCES": lambda: PermissionError(errno.EACCES, os.strerror(errno.EACCES)),
    "stream_full": lambda: BusError("publish to NATS failed: APIError: maximum bytes exceeded"),
    "cancelled": asyncio.CancelledError,
    "unknown": lambda: UnlistedError("something nobody expected"),
    # 54001 (statement too complex / stack depth): a class no list of "data errors" names.
    "sqlstate_54001": lambda: asyncpg.exceptions.StatementTooComplexError("stack depth"),
}

SPOOL_SITES = (
    "spool.open",
    "spool.write",
    "spool.flush",
    "spool.fsync",
    "spool.rotate",
    "spool.replay",
    "spool.scan",
)
SINK_SITES = ("sink.open", "sink.deliver", "sink.dead_letter", "sink.close")


class Faults:
    """One site failing with one error class, ``times`` times (-1: until healed)."""

    def __init__(self, site: str, error: str, times: int = 2) -> None:
        self.site = site
        self.error = error
        self.left = times
        self.raised = 0

    def heal(self) -> None:
        self.left = 0

    def hit(self, site: str) -> None:
        if site != self.site or self.left == 0:
            return
        if self.left > 0:
            self.left -= 1
        self.raised += 1
        raise ERRORS[self.error]()


class _FaultyFile:
    """A file whose write/flush/close fail when the plan says so."""

    def __init__(self, file: Any, faults: Faults) -> None:
        self._file = file
        self._faults = faults

    def write(self, data: bytes) -> int:
        self._faults.hit("spool.write")
        # A failed write may leave part of the record behind (a torn record).
        n: int = self._file.write(data)
        return n

    def flush(self) -> None:
        self._faults.hit("spool.flush")
        self._file.flush()

    def close(self) -> None:
        try:
            self._faults.hit("spool.rotate")
        finally:
            self._file.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


@contextmanager
def spool_faults(monkeypatch: pytest.MonkeyPatch, faults: Faults) -> Iterator[Faults]:
    """Make the spool's call sites fail as ``faults`` says (in this process)."""
    real_open = builtins.open
    real_fsync = os.fsync
    real_records = SegmentClaim.records
    real_usage = Spool.disk_usage

    def faulty_open(path: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        faults.hit("spool.open")
        f = real_open(path, mode, *args, **kwargs)
        return _FaultyFile(f, faults) if "a" in mode else f

    def faulty_fsync(fd: int) -> None:
        faults.hit("spool.fsync")
        real_fsync(fd)

    def faulty_records(self: SegmentClaim, start: int = 0) -> Iterator[Any]:
        faults.hit("spool.replay")
        yield from real_records(self, start)

    def faulty_usage(self: Spool) -> int:
        faults.hit("spool.scan")
        return real_usage(self)

    monkeypatch.setattr(spool_module, "open", faulty_open, raising=False)
    monkeypatch.setattr(os, "fsync", faulty_fsync)
    monkeypatch.setattr(SegmentClaim, "records", faulty_records)
    monkeypatch.setattr(Spool, "disk_usage", faulty_usage)
    yield faults


class FaultySink:
    """Any sink, with its four calls failing as the plan says."""

    def __init__(self, inner: Sink, faults: Faults) -> None:
        self.inner = inner
        self.faults = faults
        self.name = inner.name

    async def open(self) -> None:
        self.faults.hit("sink.open")
        await self.inner.open()

    async def deliver(
        self,
        rows: Sequence[Any],
        *,
        redelivery: bool,
        timeout: float,  # noqa: ASYNC109
    ) -> SinkOutcome:
        self.faults.hit("sink.deliver")
        return await self.inner.deliver(rows, redelivery=redelivery, timeout=timeout)

    async def dead_letter(self, refused: Sequence[Any], *, timeout: float) -> None:  # noqa: ASYNC109
        self.faults.hit("sink.dead_letter")
        await self.inner.dead_letter(refused, timeout=timeout)

    async def close(self) -> None:
        try:
            self.faults.hit("sink.close")
        finally:
            await self.inner.close()


def patch_nats(monkeypatch: pytest.MonkeyPatch, faults: Faults) -> None:
    """NATS client calls (JetStream publish, message ack, pull fetch) failing per plan."""
    from nats.aio.msg import Msg
    from nats.js.client import JetStreamContext

    real_publish = JetStreamContext.publish
    real_ack = Msg.ack
    real_fetch = JetStreamContext.PullSubscription.fetch

    async def publish(self: Any, *args: Any, **kwargs: Any) -> Any:
        faults.hit("nats.publish")
        return await real_publish(self, *args, **kwargs)

    async def ack(self: Any) -> None:
        faults.hit("nats.ack")
        await real_ack(self)

    async def fetch(self: Any, *args: Any, **kwargs: Any) -> Any:
        faults.hit("nats.fetch")
        return await real_fetch(self, *args, **kwargs)

    monkeypatch.setattr(JetStreamContext, "publish", publish)
    monkeypatch.setattr(Msg, "ack", ack)
    monkeypatch.setattr(JetStreamContext.PullSubscription, "fetch", fetch)
