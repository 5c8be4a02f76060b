"""Event ids and timestamps: time-ordered UUIDv7s and UTC datetimes from nanoseconds.

What every writer needs to give an event its row key ``("timestamp", event_id)``: the
worker's encoder (``encoding.RowEncoder``), the collector's refusals, the tests. Kept
apart from the encoding of ``data``; fork-safe (the random source is re-seeded and the
lock renewed in a forked child: ``fork.on_fork_in_child``).
"""

from __future__ import annotations

import datetime as _dt
import os
import random
import threading
import uuid
from collections.abc import Callable, Iterable

from .fork import on_fork_in_child

__all__ = ["uuid7", "uuid7_many"]

_UTC = _dt.UTC
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_UTC)
_timedelta = _dt.timedelta


class _Rng:
    """Per-process random source for event ids, re-seeded in forked children.

    Not the global ``random`` module: an application calling ``random.seed(42)`` in
    every worker process would otherwise make them generate identical ids, and the
    idempotent retry path would then discard real events as duplicates.
    """

    def __init__(self) -> None:
        self.rng = random.Random(os.urandom(16))  # noqa: S311 - ids, not secrets
        on_fork_in_child(self.reseed)

    def reseed(self) -> None:
        global _prefix_lock  # noqa: PLW0603 - a lock held by a thread that did not survive the fork
        self.rng.seed(os.urandom(16))
        _prefix_lock = threading.Lock()


_RNG = _Rng()


_last_prefix = 0
#: Several workers (one per client, each in its own thread) share the counter; without
#: the lock two threads can read the same last prefix and draw equal ones.
_prefix_lock = threading.Lock()

_FastUUID: Callable[[bytes], uuid.UUID] | None
try:
    # asyncpg's own UUID type: a C subclass of ``uuid.UUID`` (equal, hashable, encoded by
    # msgspec exactly like it), built from 16 bytes about 2x faster than
    # ``uuid.UUID(int=...)``, and the one type asyncpg's binary codec copies without
    # calling the ``.bytes`` property. It is also what asyncpg returns for uuid columns.
    from asyncpg.pgproto.pgproto import UUID as _FastUUID
except ImportError:  # pragma: no cover - a future asyncpg without it
    _FastUUID = None

_new_object = object.__new__
_set_attr = object.__setattr__
_SAFE_UNKNOWN = uuid.SafeUUID.unknown


def _uuid_from_int(value: int) -> uuid.UUID:
    if _FastUUID is not None:
        fast: uuid.UUID = _FastUUID(value.to_bytes(16, "big"))
        return fast
    # The same object ``uuid.UUID(int=value)`` builds, without its argument checks.
    u: uuid.UUID = _new_object(uuid.UUID)
    _set_attr(u, "int", value)
    _set_attr(u, "is_safe", _SAFE_UNKNOWN)
    return u


_VARIANT = 0b10 << 62


def uuid7(timestamp_ns: int) -> uuid.UUID:
    """A UUIDv7 (RFC 9562) for ``timestamp_ns``: time-ordered, 62 random bits."""
    return uuid7_many((timestamp_ns,))[0]


def uuid7_many(timestamps: Iterable[int]) -> list[uuid.UUID]:
    """UUIDv7s (RFC 9562) for a batch of timestamps, in order.

    The 12 ``rand_a`` bits hold the sub-millisecond fraction, and within a process ids
    are strictly increasing, across threads too (RFC 9562 method 3: when two events fall
    in the same 1/4096 ms, the fraction is bumped), so ids sort in tracking order. One
    lock acquisition per batch, not per id: the worker encodes whole batches.
    """
    global _last_prefix  # noqa: PLW0603 - per-process monotonic counter
    rand = _RNG.rng.getrandbits
    fast = _FastUUID
    out: list[uuid.UUID] = []
    append = out.append
    with _prefix_lock:
        last = _last_prefix
        for ts in timestamps:
            ms, rem = divmod(ts, 1_000_000)
            prefix = (ms & 0xFFFF_FFFF_FFFF) << 12 | (rem * 4096) // 1_000_000
            if prefix <= last and last - prefix < 4096:
                prefix = last + 1
            last = prefix
            value = ((prefix >> 12) << 16 | 0x7000 | (prefix & 0xFFF)) << 64 | _VARIANT | rand(62)
            append(fast(value.to_bytes(16, "big")) if fast is not None else _uuid_from_int(value))
        _last_prefix = last
    return out


_fromtimestamp = _dt.datetime.fromtimestamp


def _timestamp(timestamp_ns: int) -> _dt.datetime:
    """``timestamp_ns`` truncated to microseconds, as an aware UTC datetime.

    ``fromtimestamp(us / 1e6)`` is about 2x faster than ``EPOCH + timedelta(us)`` and
    exact: a double holds microseconds since 1970 to within 0.25 us until far past 2100
    and ``fromtimestamp`` rounds half-even to the microsecond, so the result is the same
    datetime (checked by a test over a wide range). Out-of-range values take the slow
    path, which raises the same error as before.
    """
    us = timestamp_ns // 1000
    try:
        return _fromtimestamp(us / 1e6, _UTC)
    except (OverflowError, OSError, ValueError):
        return _EPOCH + _timedelta(microseconds=us)


def _timestamps(timestamps_ns: list[int]) -> list[_dt.datetime]:
    """:func:`_timestamp` for a batch: one comprehension instead of a call per event
    (the slow path only if some value is out of range)."""
    fromts, utc = _fromtimestamp, _UTC
    try:
        return [fromts(ns // 1000 / 1e6, utc) for ns in timestamps_ns]
    except (OverflowError, OSError, ValueError):
        return [_timestamp(ns) for ns in timestamps_ns]
