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

import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..events.base import Event

__all__ = ["EventChannel", "QueuedEvent", "on_fork_in_child"]

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
        "batch_size",
        "capacity",
        "items",
        "wake_pending",
    )

    def __init__(self, *, capacity: int, batch_size: int) -> None:
        self.items: deque[QueuedEvent] = deque()
        self.capacity = capacity
        self.batch_size = batch_size
        self.wake_pending = False
        self._waker: Callable[[], None] | None = None
        self._dropped = 0
        self._drop_lock = threading.Lock()
        self._last_drop_log_ns = 0
        self._pid = os.getpid()
        _register_fork_reset(self)

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
            _forked_without_hooks(self)
        waker = self._waker
        if waker is None:
            return
        try:
            waker()
        except Exception:
            self._waker = None

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


_CHANNELS: weakref.WeakSet[EventChannel] = weakref.WeakSet()
_fork_hook_installed = False
#: Callbacks to run in a forked child, in registration order, after the channels
#: were reset: from ``os.register_at_fork`` normally, from the lazy pid check otherwise.
_CHILD_CALLBACKS: list[Callable[[], None]] = []


def _reset_all_after_fork() -> None:
    for channel in list(_CHANNELS):
        channel._after_fork_in_child()
    _run_child_callbacks()


def _run_child_callbacks() -> None:
    for callback in _CHILD_CALLBACKS:
        try:
            callback()
        except Exception:
            logger.exception("analytics: after-fork callback failed")


def _forked_without_hooks(trigger: EventChannel) -> None:
    """A fork the at-fork hooks missed, noticed by ``wake()`` in the child.

    The queue may mix the parent's events (which the parent writes) with the child's;
    when the wake is the queue's first event, that event is the child's and is kept,
    otherwise the queue is cleared and counted as dropped (never written twice).
    """
    try:
        n = len(trigger.items)
        keep = 1 if n == 1 else 0
        for channel in list(_CHANNELS):
            if channel._pid != os.getpid():
                channel._after_fork_in_child(keep if channel is trigger else 0)
        if n - keep:
            trigger._dropped += n - keep
        logger.warning(
            "analytics: fork detected without at-fork hooks (uWSGI? use "
            "--py-call-osafterfork or lazy-apps); %d queued events discarded",
            n - keep,
        )
        _run_child_callbacks()
    except Exception:  # track() must never raise
        logger.exception("analytics: recovering from an unhooked fork failed")


def on_fork_in_child(callback: Callable[[], None]) -> None:
    """Run ``callback`` in every forked child (after the channels were reset)."""
    _install_fork_hook()
    _CHILD_CALLBACKS.append(callback)


def _install_fork_hook() -> None:
    global _fork_hook_installed  # noqa: PLW0603 - one process-wide fork hook
    if not _fork_hook_installed and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_reset_all_after_fork)
        _fork_hook_installed = True


def _register_fork_reset(channel: EventChannel) -> None:
    _CHANNELS.add(channel)
    _install_fork_hook()
