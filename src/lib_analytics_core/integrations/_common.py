"""Pieces every HTTP integration shares: user-id coercion, ignored paths, safe tracking.

The rule all integrations follow: tracking must never break the request. Anything
that goes wrong while building or queueing an event is swallowed and reported once
through the library logger (never per request: an error storm would otherwise become
a logging storm).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Generic, TypeVar

from ..events.catalog import ApiRequest

if TYPE_CHECKING:
    from ..events.base import Event
    from ..ingest.client import AnalyticsClient

_Source = TypeVar("_Source")

__all__ = [
    "DEFAULT_IGNORE_PATHS",
    "UNMATCHED_ENDPOINT",
    "PathFilter",
    "RequestRecorder",
    "SafeTracker",
    "coerce_user_id",
]

logger = logging.getLogger("lib_analytics_core.integrations")

#: Endpoint recorded for requests no route matched (404s, scanners): grouped under one
#: name so random paths cannot create unbounded endpoint cardinality in the aggregates.
UNMATCHED_ENDPOINT = "<unmatched>"

#: Paths not tracked by default: load-balancer and orchestrator probes, which would
#: otherwise dominate request counts and latency percentiles.
DEFAULT_IGNORE_PATHS: tuple[str, ...] = ("/healthz", "/livez", "/readyz", "/health")


def coerce_user_id(value: object) -> uuid.UUID | None:
    """A ``uuid.UUID`` from whatever a user-id callable returned, or None.

    Accepts UUIDs and their string forms; anything else (ints, emails, junk) is None
    rather than an error, because a wrong user id must not cost the request.
    """
    if value is None:
        return None
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str | bytes):
        try:
            return uuid.UUID(value.decode() if isinstance(value, bytes) else value)
        except ValueError:
            return None
    return None


class PathFilter:
    """Decides which request paths are not tracked.

    Exact paths (``/healthz``) and prefixes ending in ``*`` (``/static/*``). A trailing
    slash is ignored, so ``/healthz/`` matches ``/healthz``.
    """

    __slots__ = ("_exact", "_prefixes")

    def __init__(self, paths: Iterable[str]) -> None:
        exact: set[str] = set()
        prefixes: list[str] = []
        for path in paths:
            if path.endswith("*"):
                prefixes.append(path[:-1])
            else:
                exact.add(path.rstrip("/") or "/")
        self._exact = frozenset(exact)
        self._prefixes = tuple(prefixes)

    def ignored(self, path: str) -> bool:
        if (path.rstrip("/") or "/") in self._exact:
            return True
        return bool(self._prefixes) and path.startswith(self._prefixes)


class SafeTracker:
    """``client.track`` that cannot raise, and says so once if it ever failed."""

    __slots__ = ("_client", "_warned")

    def __init__(self, client: AnalyticsClient) -> None:
        self._client = client
        self._warned = False

    def track(self, event: Event) -> None:
        try:
            self._client.track(event)
        except Exception:  # tracking must never break the caller
            self.failed("track() raised")

    def failed(self, what: str) -> None:
        """Report a tracking failure once per integration instance (with traceback)."""
        if not self._warned:
            self._warned = True
            logger.warning("analytics integration: %s; request unaffected", what, exc_info=True)


class RequestRecorder(Generic[_Source]):
    """Turns one finished HTTP request into an ``ApiRequest``: the part every framework
    integration shares (which paths count, who the user is, the event itself, and the
    rule that none of it may break the request).

    ``_Source`` is what the framework hands the user-id callable: an ASGI scope, a WSGI
    environ or a Django ``HttpRequest``.
    """

    __slots__ = ("_path_filter", "_user_id", "service", "tracker", "unmatched")

    def __init__(
        self,
        client: AnalyticsClient,
        *,
        service: str | None,
        ignore_paths: Iterable[str],
        user_id: Callable[[_Source], object] | None,
        unmatched_endpoint: str,
    ) -> None:
        self.tracker = SafeTracker(client)
        self.service = service or client.config.service_name
        self.unmatched = unmatched_endpoint
        self._path_filter = PathFilter(ignore_paths)
        self._user_id = user_id

    def ignored(self, path: str) -> bool:
        return self._path_filter.ignored(path)

    def resolve_user(self, source: _Source) -> uuid.UUID | None:
        if self._user_id is None:
            return None
        try:
            return coerce_user_id(self._user_id(source))
        except Exception:  # a broken resolver costs the user id, not the event
            self.tracker.failed("user_id() raised")
            return None

    def record(
        self,
        source: _Source,
        *,
        method: str,
        template: Callable[[], str | None],
        status: int,
        start_ns: int,
        end_ns: int,
    ) -> None:
        """Track the request. ``template`` is called here, inside the safety net."""
        try:
            self.tracker.track(
                ApiRequest(
                    service=self.service,
                    method=method,
                    endpoint=template() or self.unmatched,
                    status_code=int(status),
                    duration_ms=round((end_ns - start_ns) / 1_000_000, 3),  # keep sub-ms: not 0
                    user_id=self.resolve_user(source),
                )
            )
        except Exception:  # tracking must never break the caller
            self.tracker.failed("could not build the ApiRequest event")
