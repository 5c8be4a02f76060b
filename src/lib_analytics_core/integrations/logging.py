"""``ApplicationError`` events from logging and from uncaught exceptions.

::

    handler = AnalyticsLogHandler(client)          # ERROR and above by default
    logging.getLogger().addHandler(handler)
    uninstall = install_excepthooks(client)        # optional: uncaught exceptions

Each ERROR+ record becomes one ``ApplicationError``: ``error_type`` is the exception's
class (``builtins`` omitted, otherwise module-qualified) when the record carries
``exc_info``, else ``log:<logger name>``; ``message`` is the formatted message (cut to
``max_message_chars``); ``severity`` the level name. ``endpoint`` and ``user_id`` are
taken from the record's ``extra`` (``logger.error(..., extra={"user_id": uid})``) or from
the ``user_id`` callable.

Rate limit: a token bucket per ``(service, error_type)`` (default burst 10, then 1 per
second), so an error storm records its first errors and a steady trickle, not one event
per failing request. Suppressed records are counted in :attr:`suppressed`.

The handler never raises and never logs about itself through the logger it is attached
to: records from ``lib_analytics_core`` itself are ignored, which also rules out a
feedback loop when the worker logs a database error.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ..events.catalog import ApplicationError
from ._common import coerce_user_id
from ._token_bucket import KeyedTokenBucket

if TYPE_CHECKING:
    from ..ingest.client import AnalyticsClient

__all__ = [
    "DEFAULT_ERROR_BURST",
    "DEFAULT_ERROR_RATE_PER_SEC",
    "AnalyticsLogHandler",
    "error_type_of",
    "install_excepthooks",
]

#: Errors of one (service, error_type) recorded back to back before the rate applies.
DEFAULT_ERROR_BURST = 10
#: Sustained errors per second per (service, error_type) once the burst is spent.
DEFAULT_ERROR_RATE_PER_SEC = 1.0
#: Longest message stored; tracebacks are not stored at all (they belong in logs).
DEFAULT_MAX_MESSAGE_CHARS = 1_000

_OWN_LOGGER = "lib_analytics_core"


def error_type_of(exc_type: type[BaseException]) -> str:
    """``ValueError`` for builtins, ``package.module.ClassName`` otherwise."""
    module = exc_type.__module__
    name = exc_type.__qualname__
    return name if module == "builtins" else f"{module}.{name}"


class AnalyticsLogHandler(logging.Handler):
    """A ``logging.Handler`` that records ERROR+ records as ``ApplicationError`` events.

    ``clock`` is the monotonic clock of the rate limiter (injectable for tests).
    """

    def __init__(
        self,
        client: AnalyticsClient,
        *,
        service: str | None = None,
        level: int = logging.ERROR,
        rate_per_sec: float = DEFAULT_ERROR_RATE_PER_SEC,
        burst: int = DEFAULT_ERROR_BURST,
        max_message_chars: int = DEFAULT_MAX_MESSAGE_CHARS,
        user_id: Callable[[logging.LogRecord], object] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(level)
        self._client = client
        self._service = service or client.config.service_name
        self._limiter = (
            KeyedTokenBucket(rate_per_sec=rate_per_sec, burst=burst)
            if clock is None
            else KeyedTokenBucket(rate_per_sec=rate_per_sec, burst=burst, clock=clock)
        )
        self._max_chars = max_message_chars
        self._user_id = user_id

    @property
    def suppressed(self) -> int:
        """Records not tracked because their (service, error_type) was over its rate."""
        return self._limiter.suppressed

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == _OWN_LOGGER or record.name.startswith(_OWN_LOGGER + "."):
            return
        try:
            exc = record.exc_info[0] if record.exc_info else None
            error_type = error_type_of(exc) if exc is not None else f"log:{record.name}"
            service = getattr(record, "service", None)
            if not isinstance(service, str) or not service:
                service = self._service
            if not self._limiter.allow((service, error_type)):
                return
            user: object = getattr(record, "user_id", None)
            if user is None and self._user_id is not None:
                user = self._user_id(record)
            endpoint = getattr(record, "endpoint", None)
            message = record.getMessage()
            if exc is not None and not message and record.exc_info:
                message = str(record.exc_info[1])
            self._client.track(
                ApplicationError(
                    service=service[:100],
                    error_type=error_type[:200],
                    message=message[: self._max_chars],
                    severity=record.levelname.lower(),
                    endpoint=endpoint if isinstance(endpoint, str) else None,
                    user_id=coerce_user_id(user),
                )
            )
        except Exception:  # tracking must never break the caller
            self.handleError(record)


def install_excepthooks(
    client: AnalyticsClient,
    *,
    service: str | None = None,
    threads: bool = True,
) -> Callable[[], None]:
    """Record uncaught exceptions (main thread and, optionally, other threads).

    The previous hooks still run afterwards (the traceback is still printed). Returns a
    function restoring them. The event is queued; the worker's exit hook writes it, so
    a process dying of an uncaught exception still reports it.
    """
    svc = service or client.config.service_name
    previous_sys = sys.excepthook
    previous_thread = threading.excepthook

    def record(exc_type: type[BaseException], exc: BaseException | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt | SystemExit):
            return
        # An exception hook must not raise: the previous hook still has to run.
        with contextlib.suppress(Exception):
            client.track(
                ApplicationError(
                    service=svc,
                    error_type=error_type_of(exc_type)[:200],
                    message=str(exc)[:DEFAULT_MAX_MESSAGE_CHARS],
                    severity="critical",
                )
            )

    def sys_hook(
        exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        record(exc_type, exc)
        previous_sys(exc_type, exc, tb)

    def thread_hook(args: Any) -> None:
        record(args.exc_type, args.exc_value)
        previous_thread(args)

    sys.excepthook = sys_hook
    if threads:
        threading.excepthook = thread_hook

    def uninstall() -> None:
        if sys.excepthook is sys_hook:
            sys.excepthook = previous_sys
        if threads and threading.excepthook is thread_hook:
            threading.excepthook = previous_thread

    return uninstall
