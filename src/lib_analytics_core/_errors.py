"""The library's exception hierarchy.

Everything the library raises derives from :class:`AnalyticsError`, so a service can
catch one class at its boundary. Driver errors (asyncpg, OS errors) are translated at
the edge with ``raise ... from err``: callers catch our types, never asyncpg's.

The one place that never raises for runtime reasons is ``AnalyticsClient.track()``: it
counts and reports instead, because analytics must never break the request it observes.
"""

from __future__ import annotations

import enum


class ErrorKind(enum.Enum):
    """What a failed database (or bus) call means, whoever made it.

    The one classification (``_dberrors.classify`` maps every driver error to exactly
    one kind); every layer derives its behaviour from the kind instead of re-reading the
    driver's error: a writer keeps the rows and retries when :attr:`retry` is true,
    isolates the refused rows otherwise; the HTTP servers answer the status and code
    ``_http_errors.database_error`` gives; every :class:`DatabaseError` carries its kind.
    """

    UNAVAILABLE = "unavailable"
    """The server cannot serve now: unreachable, connection lost, shutting down, out of
    connections or disk, a standby that cannot take writes. Retry later."""
    CONFLICT = "conflict"
    """This attempt lost to a concurrent one (deadlock, serialization failure, lock
    timeout) or to its session's state (a prepared statement a pooler moved). Retry."""
    TIMEOUT = "timeout"
    """The statement ran past its time limit and was cancelled."""
    NOT_MIGRATED = "not_migrated"
    """The analytics schema is missing or older than this library: run analytics-migrate."""
    MISCONFIGURED = "misconfigured"
    """The deployment points somewhere unusable: no such database, a URL the driver
    rejects, a startup parameter a pooler refuses. An operator must act."""
    PERMISSION = "permission"
    """Authentication failed or the role lacks a privilege. An operator must grant it."""
    REFUSED = "refused"
    """The values were refused (data exception, constraint): the rows are at fault."""
    DUPLICATE = "duplicate"
    """A unique violation: the row is stored already (an earlier attempt committed)."""
    INTERNAL = "internal"
    """Anything else: a bug in a query, or a server's internal error."""

    @property
    def retry(self) -> bool:
        """A writer keeps the rows and retries them later (the medium or the deployment
        is at fault, not the rows)."""
        return self in _RETRY

    @property
    def operator_action(self) -> bool:
        """Waiting alone does not fix it: someone must migrate, grant or reconfigure."""
        return self in _OPERATOR


_RETRY = frozenset(
    {
        ErrorKind.UNAVAILABLE,
        ErrorKind.CONFLICT,
        ErrorKind.TIMEOUT,
        ErrorKind.NOT_MIGRATED,
        ErrorKind.MISCONFIGURED,
        ErrorKind.PERMISSION,
    }
)
_OPERATOR = frozenset({ErrorKind.NOT_MIGRATED, ErrorKind.MISCONFIGURED, ErrorKind.PERMISSION})


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
    """The database could not be reached or refused an operation.

    ``kind`` (an :class:`ErrorKind`) says what the failure means; branch on it, not on
    the message or the chained driver error (``__cause__``).
    """

    kind: ErrorKind = ErrorKind.INTERNAL

    def __init__(self, *args: object, kind: ErrorKind | None = None) -> None:
        super().__init__(*args)
        if kind is not None:
            self.kind = kind


class DatabaseUnavailableError(DatabaseError):
    """The database is unreachable (connection refused, reset, timed out)."""

    kind = ErrorKind.UNAVAILABLE


class NotMigratedError(DatabaseError):
    """The analytics schema is missing or older than this library in this database:
    run ``analytics-migrate`` (same database URL) first."""

    kind = ErrorKind.NOT_MIGRATED


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
    "ErrorKind",
    "EventValidationError",
    "MigrationError",
    "NotMigratedError",
    "QueryError",
    "UnknownEventTypeError",
    "WorkerError",
]
