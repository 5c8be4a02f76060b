"""The one classification of driver errors: what a failed call *means*.

Every layer used to read asyncpg's errors itself and three of them disagreed (a
``TooManyConnectionsError`` was "unavailable" to ``_db``, a plain failure to the read
side and transient to the writers). Here :func:`classify` maps any exception to exactly
one :class:`~lib_analytics_core.ErrorKind`, and everything else derives from the kind:

* ``_db.translate`` raises :class:`~lib_analytics_core.DatabaseUnavailableError`,
  :class:`~lib_analytics_core.NotMigratedError` or the caller's
  :class:`~lib_analytics_core.DatabaseError`, each carrying ``kind``;
* writers (the worker's sinks, ``analytics-ingest``, the collector) keep the rows and
  retry when ``kind.retry``, take the idempotent path on ``DUPLICATE``, and isolate
  the refused rows (bisection, dead letters) otherwise (``ingest.errors``);
* the HTTP servers answer ``_http_errors.database_error(kind)``;
* :func:`hint` tells an operator what to do for the kinds that need one.

The table, by SQLSTATE (exact code first, then its two-character class):

=================  ===========================================================
``UNAVAILABLE``    ``08`` connection exception, ``53`` insufficient resources,
                   ``57`` operator intervention (shutdown, cannot connect now),
                   ``58`` system error, ``25006`` read-only transaction (a standby
                   after a failover); ``OSError``, ``TimeoutError``, a closed
                   connection, asyncpg's internal client and protocol errors
``CONFLICT``       ``40`` rollback (serialization, deadlock), ``55P03`` lock not
                   available, ``55006`` object in use, ``72`` snapshot too old,
                   ``26000``/``42P05`` a prepared statement missing or already
                   there (the session's state, e.g. moved by a pooler), asyncpg's
                   outdated schema cache and invalidated cached plan
``TIMEOUT``        ``57014`` query cancelled (statement timeout, a cancel request)
``NOT_MIGRATED``   ``42P01`` undefined table, ``42703`` column, ``42883``
                   function, ``42704`` object, ``3F000`` schema
``MISCONFIGURED``  ``3D000`` no such database, ``57P04`` database dropped, a URL
                   the driver rejects, a startup parameter a pooler refuses
``PERMISSION``     ``28`` authorization, ``42501`` insufficient privilege
``REFUSED``        ``22`` data exception, ``23`` integrity (but ``23505``), ``21``
                   cardinality, ``44`` check option, ``54`` program limit, ``P0``
                   raised by a function; asyncpg's client-side ``DataError``
``DUPLICATE``      ``23505`` unique violation
``INTERNAL``       everything else (``42`` syntax, ``0A``, ``XX``, misuse of the
                   driver, an exception nobody listed)
=================  ===========================================================

A writer treats ``INTERNAL`` like ``REFUSED``: it isolates the rows responsible, and a
row that is not at fault is stored on its own, so refusing too eagerly costs a
bisection, never a row. Only the PostgreSQL side is classified here; ``BusError`` (the
NATS side classifies its own failures when raising it) counts as ``UNAVAILABLE``.

Imports nothing from the library but ``_errors``; ``read`` and ``ingest`` both use it.
"""

from __future__ import annotations

import re
from typing import Final

import asyncpg
from asyncpg.exceptions import _base as _asyncpg_base

from ._errors import BusError, DatabaseError, ErrorKind

__all__ = ["classify", "describe", "hint", "sqlstate"]

_K = ErrorKind

#: Exact SQLSTATEs whose kind differs from their class's.
BY_STATE: Final[dict[str, ErrorKind]] = {
    "23505": _K.DUPLICATE,
    "57014": _K.TIMEOUT,
    "57P04": _K.MISCONFIGURED,
    "25006": _K.UNAVAILABLE,
    "55P03": _K.CONFLICT,
    "55006": _K.CONFLICT,
    "26000": _K.CONFLICT,
    "42P05": _K.CONFLICT,
    "0A000": _K.INTERNAL,
    "42P01": _K.NOT_MIGRATED,
    "42703": _K.NOT_MIGRATED,
    "42883": _K.NOT_MIGRATED,
    "42704": _K.NOT_MIGRATED,
    "3F000": _K.NOT_MIGRATED,
    "3D000": _K.MISCONFIGURED,
    "42501": _K.PERMISSION,
}
#: Two-character SQLSTATE classes; a class not listed is ``INTERNAL``.
BY_CLASS: Final[dict[str, ErrorKind]] = {
    "08": _K.UNAVAILABLE,
    "53": _K.UNAVAILABLE,
    "57": _K.UNAVAILABLE,
    "58": _K.UNAVAILABLE,
    "40": _K.CONFLICT,
    "72": _K.CONFLICT,
    "28": _K.PERMISSION,
    "21": _K.REFUSED,
    "22": _K.REFUSED,
    "23": _K.REFUSED,
    "44": _K.REFUSED,
    "54": _K.REFUSED,
    "P0": _K.REFUSED,
}

#: Protocol violations (``08P01``) that are a configuration, not an outage: PgBouncer
#: refuses startup parameters it does not know and databases it has no entry for.
_MISCONFIGURED_MESSAGES = re.compile(
    r"unsupported startup parameter|no such database|no such user", re.IGNORECASE
)


def sqlstate(err: BaseException) -> str | None:
    """The error's five-character SQLSTATE, or None (client-side and OS errors)."""
    state = getattr(err, "sqlstate", None)
    return state if isinstance(state, str) and len(state) == 5 else None


def classify(err: BaseException) -> ErrorKind:
    """The one :class:`ErrorKind` of ``err`` (see the module docstring's table)."""
    if isinstance(err, DatabaseError):
        return err.kind
    if isinstance(err, BusError):
        return _K.UNAVAILABLE
    state = sqlstate(err)
    if state is not None:
        kind = BY_STATE.get(state) or BY_CLASS.get(state[:2], _K.INTERNAL)
        if state == "08P01" and _MISCONFIGURED_MESSAGES.search(str(err)):
            return _K.MISCONFIGURED
        return kind
    return _client_side(err)


def _client_side(err: BaseException) -> ErrorKind:
    if isinstance(err, OSError | TimeoutError):  # socket errors, DNS, connect timeouts
        return _K.UNAVAILABLE
    if isinstance(err, asyncpg.exceptions.OutdatedSchemaCacheError):
        return _K.CONFLICT
    if isinstance(err, asyncpg.InternalClientError):  # protocol errors, a wrong target
        return _K.UNAVAILABLE
    if isinstance(err, asyncpg.exceptions.ClientConfigurationError):
        return _K.MISCONFIGURED
    if isinstance(err, _asyncpg_base.DataError):  # a value not encodable for its column
        return _K.REFUSED
    if isinstance(err, asyncpg.InterfaceError) and "closed" in str(err):
        return _K.UNAVAILABLE
    return _K.INTERNAL


_NOT_MIGRATED_HINT: Final = (
    "the analytics tables are missing or outdated in this database: run "
    "`analytics-migrate` (against the same database URL) first"
)
_DENIED = re.compile(r"permission denied for (\w+) (\S+)")


def hint(err: BaseException) -> str | None:
    """What an operator should do about driver error ``err``, or None when waiting is
    the answer (and for the library's own errors, whose message already says it)."""
    if isinstance(err, DatabaseError):
        return None
    kind = classify(err)
    if kind is _K.NOT_MIGRATED:
        return _NOT_MIGRATED_HINT
    if kind is _K.PERMISSION:
        return _privilege_hint(err)
    if kind is _K.MISCONFIGURED:
        return _misconfigured_hint(err)
    return None


def _misconfigured_hint(err: BaseException) -> str:
    text = str(err)
    if sqlstate(err) in ("3D000", "57P04") or "no such database" in text:
        return (
            "the database named in the URL does not exist on that server: create it "
            "(createdb) or fix the URL's database name"
        )
    if "unsupported startup parameter" in text:
        return (
            "a connection pooler (PgBouncer) refused a session setting sent at connect: "
            "remove it from the URL, set it on the role (ALTER ROLE ... SET), or list it "
            "in the pooler's ignore_startup_parameters"
        )
    return "the database URL or a connection setting is not usable: check DATABASE_URL"


def _privilege_hint(err: BaseException) -> str:
    text = str(err)
    if (sqlstate(err) or "").startswith("28"):
        return "the server refused the login: check the URL's user and password"
    if "create extension" in text:
        return (
            "creating the extension needs a superuser (or a trusted extension): have one run "
            "CREATE EXTENSION in this database first, or migrate with --tier partitioned"
        )
    m = _DENIED.search(text)
    if m is None:
        return "the connecting role lacks a privilege this step needs"
    what, name = m.group(1), m.group(2).strip('"')
    if what == "schema":
        return (
            f"the connecting role needs CREATE (and USAGE) on schema {name}: run as the "
            f"database owner, or GRANT CREATE ON SCHEMA {name} TO <role>"
        )
    if what == "database":
        return f"the connecting role needs CREATE on database {name}"
    return (
        f"the connecting role needs a privilege on {what} {name} (or must own it; a "
        "read-only login gets SELECT on the aggregates with GRANT analytics_reader TO <login>)"
    )


def describe(err: BaseException) -> str:
    """``Type: message`` for logs and stats, at most 500 characters, with the
    operator's :func:`hint` where there is one; never raises (a hostile exception's
    ``str`` may). Driver messages carry no credentials."""
    try:
        text = f"{type(err).__name__}: {err}"
    except Exception:
        text = type(err).__name__
    try:
        extra = hint(err)
    except Exception:
        extra = None
    if extra is not None:
        text = f"{text} ({extra})"
    return text[:500]
