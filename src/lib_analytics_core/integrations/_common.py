"""Pieces every HTTP integration shares: user-id coercion, ignored paths, safe tracking.

The rule all integrations follow: tracking must never break the request. Anything
that goes wrong while building or queueing an event is swallowed and reported once
through the library logger (never per request: an error storm would otherwise become
a logging storm).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .._client import AnalyticsClient
    from .._events import Event

__all__ = [
    "DEFAULT_IGNORE_PATHS",
    "UNMATCHED_ENDPOINT",
    "PathFilter",
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
