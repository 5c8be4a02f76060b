"""Everything the write path does about ``fork()``, in one place.

Owns: the process-wide at-fork hooks; the registry of channels reset in a child (the
parent's queued events belong to the parent, which writes them); the lazy pid check for
forks whose hooks never ran (uWSGI forks from C); the callbacks run in every child
(thread hosts restart their worker, the id generator reseeds); and the fork guard that
keeps a fork from landing in the middle of a connect.

Must not touch: batching, delivery or any I/O. It imports nothing from the write path
(channels and thread hosts register themselves here through small duck-typed hooks),
so every other module may import it without a cycle.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import weakref
from collections.abc import Callable
from typing import Any, Protocol

__all__ = [
    "acquire_fork_safely",
    "on_fork_in_child",
    "register_channel",
    "register_threaded",
    "unregister_threaded",
]

logger = logging.getLogger("lib_analytics_core")


class _Resettable(Protocol):
    _pid: int
    items: Any

    def _after_fork_in_child(self, keep: int = 0) -> None: ...


class _Restartable(Protocol):
    def _after_fork_in_child(self) -> None: ...


# -- channels and child callbacks -----------------------------------------------------

_CHANNELS: weakref.WeakSet[Any] = weakref.WeakSet()
_CHILD_CALLBACKS: list[Callable[[], None]] = []
_hook_installed = False


def _install_hook() -> None:
    global _hook_installed  # noqa: PLW0603 - one process-wide fork hook
    if not _hook_installed and hasattr(os, "register_at_fork"):
        os.register_at_fork(
            before=_before_fork,
            after_in_parent=_after_fork_in_parent,
            after_in_child=_reset_all_after_fork,
        )
        _hook_installed = True


def register_channel(channel: _Resettable) -> None:
    """Reset ``channel`` in every forked child (before any child callback runs)."""
    _CHANNELS.add(channel)
    _install_hook()


def on_fork_in_child(callback: Callable[[], None]) -> None:
    """Run ``callback`` in every forked child, after the channels were reset: from
    ``os.register_at_fork`` normally, from the lazy pid check otherwise."""
    _install_hook()
    _CHILD_CALLBACKS.append(callback)


def _reset_all_after_fork() -> None:
    _reset_guard_in_child()
    for channel in list(_CHANNELS):
        channel._after_fork_in_child()
    _run_child_callbacks()


def _run_child_callbacks() -> None:
    for callback in _CHILD_CALLBACKS:
        try:
            callback()
        except Exception:
            logger.exception("analytics: after-fork callback failed")


def forked_without_hooks(trigger: _Resettable) -> None:
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
            trigger._dropped += n - keep  # type: ignore[attr-defined]
        logger.warning(
            "analytics: fork detected without at-fork hooks (uWSGI? use "
            "--py-call-osafterfork or lazy-apps); %d queued events discarded",
            n - keep,
        )
        _reset_guard_in_child()
        _run_child_callbacks()
    except Exception:  # track() must never raise
        logger.exception("analytics: recovering from an unhooked fork failed")


# -- thread hosts ----------------------------------------------------------------------

#: Thread hosts to restart in a child. Weak, and pruned: a stopped host is removed by
#: ``unregister_threaded`` and a collected one by its weakref callback, so a process
#: that starts and stops many hosts does not accumulate them.
_THREADED: list[weakref.ref[Any]] = []
_threaded_lock = threading.Lock()
_threaded_callback_installed = False


def _prune(ref: weakref.ref[Any]) -> None:
    with _threaded_lock:
        if ref in _THREADED:
            _THREADED.remove(ref)


def register_threaded(threaded: _Restartable) -> None:
    """Restart ``threaded``'s worker in every forked child while it is running."""
    global _threaded_callback_installed  # noqa: PLW0603
    with _threaded_lock:
        if not _threaded_callback_installed:
            on_fork_in_child(_restart_threaded_after_fork)
            _threaded_callback_installed = True
        if any(ref() is threaded for ref in _THREADED):
            return
        _THREADED.append(weakref.ref(threaded, _prune))


def unregister_threaded(threaded: object) -> None:
    with _threaded_lock:
        _THREADED[:] = [ref for ref in _THREADED if ref() is not None and ref() is not threaded]


def _restart_threaded_after_fork() -> None:
    for ref in _THREADED:
        threaded = ref()
        if threaded is not None:
            threaded._after_fork_in_child()


# -- the fork guard ---------------------------------------------------------------------
#
# Opening a connection runs code that is not fork-safe: asyncpg builds an
# ``ssl.SSLContext`` per connect (sslmode=prefer) and DNS lookups take libc locks. A
# fork while another thread is inside one of those leaves the lock held forever in the
# child, whose new worker then hangs at its first connect. Those critical moments last
# microseconds to milliseconds; the rest of a connect is waiting on the network, holding
# no lock. So a fork waits for a connect in progress only briefly: long enough for a
# healthy connect to finish, never as long as an unreachable database takes to time
# out (the guard used to be awaited for 5 s, stalling every fork during an outage).
_FORK_GUARD = threading.Lock()
_FORK_GUARD_WAIT_SECS = 0.25
_fork_guard_held = False


async def acquire_fork_safely(pool: Any, timeout: float) -> Any:  # noqa: ASYNC109
    """``pool.acquire(timeout=...)`` with the fork guard held while it runs.

    Polled, never blocking: the fork hook holds the guard only for the fork itself, and
    a worker on the application's own loop must never block that loop.
    """
    locked = _FORK_GUARD.acquire(blocking=False)
    for _ in range(1000):
        if locked:
            break
        await asyncio.sleep(0.001)
        locked = _FORK_GUARD.acquire(blocking=False)
    try:
        return await pool.acquire(timeout=timeout)
    finally:
        if locked:
            _FORK_GUARD.release()


def _before_fork() -> None:
    global _fork_guard_held  # noqa: PLW0603 - paired with the after-fork hooks
    _fork_guard_held = _FORK_GUARD.acquire(timeout=_FORK_GUARD_WAIT_SECS)


def _after_fork_in_parent() -> None:
    global _fork_guard_held  # noqa: PLW0603
    if _fork_guard_held:
        _fork_guard_held = False
        _FORK_GUARD.release()


def _reset_guard_in_child() -> None:
    # Locks another thread held at the fork stay held forever in the child: replace them.
    global _FORK_GUARD, _fork_guard_held, _threaded_lock  # noqa: PLW0603
    _FORK_GUARD = threading.Lock()
    _fork_guard_held = False
    _threaded_lock = threading.Lock()


_install_hook()
