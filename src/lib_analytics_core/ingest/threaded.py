"""The thread host: one :class:`AnalyticsWorker` on a private event loop in a daemon thread.

Owns: the thread and its loop, blocking ``flush()``/``shutdown()`` that forward to the
loop with ``run_coroutine_threadsafe``, the ``atexit`` hook and the exit finalizers of
multiprocessing/billiard children, and restarting the worker in a forked child (via
``fork``). Must not touch: batching or delivery (the worker's), fork hooks themselves
(``fork``). The worker does not import this module at load time (only lazily, from
``start_in_thread``), so there is no import cycle.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import sys
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from ._threads import ThreadPerCallExecutor
from .fork import register_threaded, unregister_threaded
from .rows import Rejected
from .sinks.postgres import PoolFactory
from .stats import ShutdownReport, WorkerStats
from .worker import AnalyticsWorker
from .worker_config import WorkerConfig

__all__ = ["ThreadedWorker"]

logger = logging.getLogger("lib_analytics_core")

#: Bound on waiting for leftover tasks when the thread's loop ends: a task stuck on a
#: blackholed socket must not keep the thread (and an exiting interpreter) waiting.
_LOOP_CLOSE_SECS = 1.0


class ThreadedWorker:
    """An :class:`AnalyticsWorker` running on its own loop in a daemon thread.

    For WSGI apps, Django, Celery and scripts. All methods are blocking and thread-safe;
    ``shutdown()`` never raises into the application.
    """

    def __init__(
        self,
        config: WorkerConfig,
        dsn: str | PoolFactory,
        *,
        register_atexit: bool = True,
    ) -> None:
        self._config = config
        self._dsn = dsn
        self._register_atexit = register_atexit
        self._lock = threading.Lock()
        self._worker = AnalyticsWorker(config, dsn)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = threading.Event()
        self._stopped = False
        self._atexit_registered = False
        self._pid = os.getpid()

    @property
    def worker(self) -> AnalyticsWorker:
        return self._worker

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._started.clear()
            self._thread = threading.Thread(
                target=self._main, name="lib-analytics-core-worker", daemon=True
            )
            self._thread.start()
        self._started.wait(10.0)
        if self._register_atexit and not self._atexit_registered:
            atexit.register(self._atexit)
            self._atexit_registered = True
            _flush_at_pool_child_exit(self)
        register_threaded(self)

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        # asyncio's default executor refuses work once the interpreter exits; the exit
        # hook may still need a DNS lookup to connect.
        loop.set_default_executor(ThreadPerCallExecutor())
        self._loop = loop
        try:
            task = loop.create_task(self._worker.run())
            loop.call_soon(self._started.set)
            loop.run_until_complete(task)
        except BaseException:
            logger.exception("analytics worker thread crashed")
        finally:
            self._started.set()
            try:
                # Let callers' coroutines (a shutdown() or flush() waiting on the worker's
                # completion) finish before the loop closes, or their futures never resolve.
                pending = asyncio.all_tasks(loop)
                if pending:
                    loop.run_until_complete(asyncio.wait(pending, timeout=_LOOP_CLOSE_SECS))
                    for task in pending:
                        task.cancel()
                    loop.run_until_complete(asyncio.wait(pending, timeout=_LOOP_CLOSE_SECS))
                loop.run_until_complete(loop.shutdown_asyncgens())
            except BaseException:
                logger.exception("analytics worker thread: closing its loop failed")
            finally:
                loop.close()

    def _call(self, factory: Callable[[], Coroutine[Any, Any, Any]], timeout: float | None) -> Any:
        loop = self._loop
        thread = self._thread
        if loop is None or thread is None or not thread.is_alive() or loop.is_closed():
            # Not running (never started, or already stopped): do the work inline.
            return asyncio.run(factory())
        fut = asyncio.run_coroutine_threadsafe(factory(), loop)
        return fut.result(timeout)

    def flush(self, timeout: float | None = None) -> bool:
        """Block until everything queued now is handled (or ``timeout`` passes)."""
        try:
            result: bool = self._call(
                lambda: self._worker.flush(timeout), None if timeout is None else timeout + 5
            )
        except TimeoutError:
            return False
        return result

    def shutdown(self, timeout: float | None = None) -> ShutdownReport:
        """Deliver what is queued within ``timeout``, stop the thread. Idempotent."""
        budget = self._config.settings.shutdown_timeout_secs if timeout is None else timeout
        with self._lock:
            if self._stopped:
                return ShutdownReport(0, 0, 0, False)
            self._stopped = True
        try:
            report: ShutdownReport = self._call(
                lambda: self._worker.shutdown(budget), budget + 10.0
            )
        except TimeoutError:
            report = ShutdownReport(0, 0, len(self._config.channel), True)
        except Exception:
            logger.exception("analytics: shutting down the worker thread failed")
            report = ShutdownReport(0, 0, len(self._config.channel), True)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(5.0)
        if self._atexit_registered:
            atexit.unregister(self._atexit)
            self._atexit_registered = False
        unregister_threaded(self)
        return report

    def stats(self) -> WorkerStats:
        return self._worker.stats()

    def recent_rejections(self) -> list[Rejected]:
        return self._worker.recent_rejections()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _atexit(self) -> None:
        if not self._stopped and os.getpid() == self._pid:
            self.shutdown()

    def _after_fork_in_child(self) -> None:
        # The thread did not survive the fork; the parent's queued events were cleared
        # by the channel's own fork hook (the parent writes them). Start afresh.
        if self._stopped or self._thread is None:
            return
        self._lock = threading.Lock()
        self._worker = AnalyticsWorker(self._config, self._dsn)
        self._thread = None
        self._loop = None
        self._started = threading.Event()
        self._pid = os.getpid()
        self.start()
        if self._atexit_registered:
            _flush_at_pool_child_exit(self)


def _flush_at_pool_child_exit(threaded: ThreadedWorker) -> None:
    """multiprocessing (and Celery's billiard) children end with ``os._exit`` after
    their target returns, so ``atexit`` never runs there; their own exit finalizers do.
    Register the shutdown there too (it is idempotent, so a normal exit is harmless).

    Their process bootstrap clears finalizers registered during the fork, then runs
    its "after fork" callbacks: so the finalizer is registered from one of those."""
    for name in ("multiprocessing.util", "billiard.util"):
        util = sys.modules.get(name)
        register = getattr(util, "register_after_fork", None)
        finalize = getattr(util, "Finalize", None)
        if register is None or finalize is None:
            continue

        def in_child(obj: ThreadedWorker, finalize: Any = finalize) -> None:
            finalize(None, obj._atexit, exitpriority=10)

        with contextlib.suppress(Exception):
            register(threaded, in_child)
