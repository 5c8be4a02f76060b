"""A thread per call, for the little blocking work the write path has (spool file I/O,
DNS lookups of the worker's private loop).

Why not ``asyncio.to_thread``/a ``ThreadPoolExecutor``: both refuse new work once the
interpreter has begun to exit, and the exit hook is exactly when a worker still has to
connect (resolve a host name) or spool what it could not write. This executor starts a
daemon thread per call (rare: once per connect or per spool operation during an
outage) and runs the call inline when even that is refused, at the very end of an exit.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["ThreadPerCallExecutor", "in_thread"]

_T = TypeVar("_T")


class ThreadPerCallExecutor(concurrent.futures.ThreadPoolExecutor):
    """(A ThreadPoolExecutor subclass only because asyncio's default executor must be
    one; its pool is never used.)"""

    def submit(
        self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[Any]:
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def work() -> None:
            if not fut.set_running_or_notify_cancel():
                return
            try:
                fut.set_result(fn(*args, **kwargs))
            except BaseException as err:  # handed to the awaiting side
                fut.set_exception(err)

        try:
            threading.Thread(target=work, name="lib-analytics-core-io", daemon=True).start()
        except RuntimeError:
            work()
        return fut


_EXECUTOR = ThreadPerCallExecutor(max_workers=1)


async def in_thread(fn: Callable[..., _T], *args: Any) -> _T:
    """Run ``fn(*args)`` off the event loop and await its result."""
    loop = asyncio.get_running_loop()
    result: _T = await loop.run_in_executor(_EXECUTOR, fn, *args)
    return result
