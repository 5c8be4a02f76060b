"""The stop token: shutdown, as the worker announces it and delivery reads it.

Owns: whether a stop was requested, its deadline (clock time), an event that wakes a
backoff sleep at once, and waking every attempt in flight when the deadline is set or
moved (an attempt begun with a long timeout before ``shutdown()`` must end by
shutdown's deadline). The worker owns one and passes it *as an argument* to each
delivery and replay; nothing sets fields on the other side of the seam.
"""

from __future__ import annotations

import asyncio

__all__ = ["Stop"]


class Stop:
    """Requested once (idempotent); the earliest deadline asked for wins."""

    __slots__ = ("_event", "_watchers", "deadline", "requested")

    def __init__(self) -> None:
        self.requested = False
        self.deadline: float | None = None
        self._event: asyncio.Event | None = None
        self._watchers: set[asyncio.Event] = set()

    @property
    def event(self) -> asyncio.Event:
        """Set once a stop is requested (created on first use, on the running loop)."""
        if self._event is None:
            self._event = asyncio.Event()
            if self.requested:
                self._event.set()
        return self._event

    def request(self, deadline: float | None = None) -> None:
        """Ask for a stop, by ``deadline`` if given (an earlier one is kept)."""
        self.requested = True
        if self._event is not None:
            self._event.set()
        self.set_deadline(deadline)

    def set_deadline(self, deadline: float | None) -> None:
        """Bound the work in flight by ``deadline`` (``None``: no bound) without asking
        for a stop (an inline ``flush(timeout)``); wakes the attempts in flight."""
        if deadline is not None and (self.deadline is None or deadline < self.deadline):
            self.deadline = deadline
        elif deadline is None and not self.requested:
            self.deadline = None
        for poke in self._watchers:
            poke.set()

    def passed(self, now: float) -> bool:
        return self.deadline is not None and now >= self.deadline

    def watch(self, poke: asyncio.Event) -> None:
        """Set ``poke`` whenever the deadline changes (until :meth:`unwatch`)."""
        self._watchers.add(poke)

    def unwatch(self, poke: asyncio.Event) -> None:
        self._watchers.discard(poke)
