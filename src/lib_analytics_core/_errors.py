"""The library's exception hierarchy.

Everything the library raises derives from :class:`AnalyticsError`, so a service can
catch one class at its boundary. Driver errors (asyncpg, OS errors) are translated at
the edge with ``raise ... from err``: callers catch our types, never asyncpg's.

The one place that never raises for runtime reasons is ``AnalyticsClient.track()``: it
counts and reports instead, because analytics must never break the request it observes.
"""

from __future__ import annotations


class AnalyticsError(Exception):
    """Root of every exception raised by lib-analytics-core."""


class ConfigurationError(AnalyticsError, ValueError):
    """A configuration value is invalid (raised once, at construction, never per event)."""


class EventValidationError(AnalyticsError, TypeError):
    """An event was constructed with a missing field or a value of the wrong type.

    Raised at construction so the bug shows up where the event is built, not minutes
    later in a background worker.
    """


class UnknownEventTypeError(AnalyticsError, LookupError):
    """Stored data names an ``event_type`` no registered event class declares."""


class DatabaseError(AnalyticsError):
    """The database could not be reached or refused an operation."""


class DatabaseUnavailableError(DatabaseError):
    """The database is unreachable (connection refused, reset, timed out)."""


class MigrationError(DatabaseError):
    """A migration could not be applied; the database is left as it was."""


class ChecksumMismatchError(MigrationError):
    """An already-applied migration's file changed since it was applied."""


class QueryError(AnalyticsError, ValueError):
    """A read-side query was given invalid parameters (range order, size, limits)."""


class WorkerError(AnalyticsError):
    """The background worker was used in a way its lifecycle does not allow."""


class BusError(AnalyticsError):
    """The NATS JetStream bus could not be reached or refused an operation (publish
    not acknowledged, stream missing). Raised from the bus sink and the ingest service;
    a publish that raises it has an unknown outcome and is retried idempotently."""


__all__ = [
    "AnalyticsError",
    "BusError",
    "ChecksumMismatchError",
    "ConfigurationError",
    "DatabaseError",
    "DatabaseUnavailableError",
    "EventValidationError",
    "MigrationError",
    "QueryError",
    "UnknownEventTypeError",
    "WorkerError",
]
