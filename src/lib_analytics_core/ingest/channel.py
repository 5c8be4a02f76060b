"""The bounded, lock-free channel between ``track()`` and the worker.

Why a ``collections.deque`` and not ``queue.Queue``/``asyncio.Queue``: ``deque.append``
and ``len`` are single atomic C calls (also on free-threaded builds, where deque is
internally locked), so producers never take a Python-level lock and never block.
``queue.Queue`` takes a lock and a condition per put (~1 µs); ``asyncio.Queue`` is not
thread-safe at all.

The worker is woken only when it matters: when the channel goes from empty to
non-empty (to start the flush-interval clock) and when a full batch is waiting. That is
one cross-thread wake-up per batch, not per event. A lost race merely delays a wake-up
until the worker's own timer fires, which is bounded by ``flush_interval``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from .fork import forked_without_hooks, register_channel

if TYPE_CHECKING:
    from ..events.base import Event

__all__ = ["EventChannel", "QueuedEvent"]

logger = logging.getLogger("lib_analytics_core")

#: (time.time_ns() at track(), event)
QueuedEvent = tuple[int, "Event"]

_DROP_LOG_INTERVAL_NS = 10 * 1_000_000_000


class EventChannel:
    """Bounded multi-producer, single-consumer channel with drop counting."""

    __slots__ = (
        "__weakref__",
        "_drop_lock",
        "_dropped",
        "_last_drop_log_ns",
        "_pid",
        "_waker",
        "capacity",
        "items",
        "wake_pending",
    )

    def __init__(self, *, capacity: int) -> None:
        self.items: deque[QueuedEvent] = deque()
        self.capacity = capacity
        self.wake_pending = False
        self._waker: Callable[[], None] | None = None
        self._dropped = 0
        self._drop_lock = threading.Lock()
        self._last_drop_log_ns = 0
        self._pid = os.getpid()
        register_channel(self)

    # -- producer side (hot path helpers; track() inlines the common case) ----------

    def drop(self) -> None:
        """Count one dropped event; log at most once per 10 s, never per event."""
        with self._drop_lock:
            self._dropped += 1
            now = time.monotonic_ns()
            if now - self._last_drop_log_ns < _DROP_LOG_INTERVAL_NS:
                return
            self._last_drop_log_ns = now
            total = self._dropped
        logger.warning(
            "analytics queue full (%d events): dropping events; %d dropped so far",
            self.capacity,
            total,
        )

    def wake(self) -> None:
        """Tell the worker there is work. Never raises (track() must not).

        Called once per batch (queue went non-empty, or a batch is full), not per
        event, so it can afford the pid check that catches a fork whose at-fork hooks
        never ran (uWSGI forks from C without ``--py-call-osafterfork``).
        """
        self.wake_pending = True
        if self._pid != os.getpid():
            forked_without_hooks(self)
        waker = self._waker
        if waker is None:
            return
        try:
            waker()
        except Exception as err:
            # Typically the worker's loop was closed under it. The worker still wakes
            # on its own timer, but say why it became slow, once.
            self._waker = None
            with contextlib.suppress(Exception):  # track() must never raise
                logger.warning(
                    "analytics: the worker's waker failed and was removed (%s: %s); "
                    "the worker now only wakes on its flush timer",
                    type(err).__name__,
                    err,
                )

    # -- consumer side -----------------------------------------------------------------

    @property
    def dropped(self) -> int:
        return self._dropped

    def set_waker(self, waker: Callable[[], None] | None) -> None:
        self._waker = waker

    def take(self, limit: int) -> list[QueuedEvent]:
        """Remove and return up to ``limit`` events, oldest first."""
        self.wake_pending = False
        items = self.items
        n = min(limit, len(items))
        popleft = items.popleft
        return [popleft() for _ in range(n)]

    def __len__(self) -> int:
        return len(self.items)

    def _after_fork_in_child(self, keep: int = 0) -> None:
        # The events queued before the fork belong to the parent, which writes them.
        # Writing them here too would store them twice; the child starts empty
        # (except for the ``keep`` newest, known to be the child's own).
        items = self.items
        if keep:
            kept = [items.pop() for _ in range(min(keep, len(items)))]
            items.clear()
            items.extend(reversed(kept))
        else:
            items.clear()
        self.wake_pending = False
        self._waker = None
        self._dropped = 0
        self._drop_lock = threading.Lock()
        self._pid = os.getpid()

    @property
    def pid(self) -> int:
        return self._pid
