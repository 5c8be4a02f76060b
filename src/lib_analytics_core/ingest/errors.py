"""One classification of write errors, for every sink and the ingest service.

Owns the answer to "this call failed: try again later, or is it the rows?":

* **transient** — the medium is unavailable or busy *now*, and the same rows will be
  stored once it is back: connection errors and timeouts (``OSError``,
  ``TimeoutError``, asyncpg's interface errors, our ``BusError`` and
  ``DatabaseUnavailableError``), and the SQLSTATE classes of a server that is going
  away or overloaded — ``08`` connection exception, ``40`` transaction rollback
  (serialization failure, deadlock), ``53`` insufficient resources (too many
  connections, disk full, out of memory), ``57`` operator intervention (admin
  shutdown, query cancelled by a timeout), ``58`` system error, ``55P03`` lock not
  available, ``25006`` read-only transaction (a standby after a failover). Also the
  errors of a database that is not ready *for any row*, which a deploy fixes
  (``42P01`` undefined table or ``42703`` column: not migrated; ``42501`` insufficient
  privilege; ``28`` authorization; ``3D000`` no such database): retrying keeps the
  rows (spooled, or in the stream) instead of dead-lettering every event until the
  migration has run. :func:`not_ready_hint` says so in words.
* **refused** — *anything else*, whatever its SQLSTATE or exception class (``22``
  data exception, ``23`` integrity, ``54001`` statement too complex, an ``XX`` internal
  error, an exception nobody listed): a sink isolates the rows responsible (bisection)
  and dead-letters only them. A row that is not at fault is stored on its own, so
  refusing too eagerly costs a bisection, never a row.

A unique violation is neither: it means "already stored" (COPY met rows of an earlier
attempt), and the sink falls back to its idempotent path.

Imports nothing from the rest of the library but ``_errors``.
"""

from __future__ import annotations

import asyncio

from .._errors import BusError, DatabaseUnavailableError

__all__ = ["describe", "is_duplicate", "is_transient", "not_ready_hint"]

#: SQLSTATE classes (first two characters) that are transient.
_TRANSIENT_CLASSES = frozenset({"08", "40", "53", "57", "58", "28"})
#: Individual SQLSTATEs that are transient (or "not ready yet", retried likewise).
_TRANSIENT_STATES = frozenset({"55P03", "25006", "42P01", "42703", "42501", "3D000", "3F000"})
_NOT_READY = frozenset({"42P01", "42703", "3F000"})


def _sqlstate(err: BaseException) -> str | None:
    state = getattr(err, "sqlstate", None)
    return state if isinstance(state, str) and len(state) == 5 else None


def is_duplicate(err: BaseException) -> bool:
    """A unique violation: the rows (some of them) are stored already."""
    return _sqlstate(err) == "23505"


def is_transient(err: BaseException) -> bool:
    """True: retry the same rows later. False: the rows are refused (bisect them)."""
    state = _sqlstate(err)
    if state is not None:
        return state[:2] in _TRANSIENT_CLASSES or state in _TRANSIENT_STATES
    if isinstance(err, TimeoutError | asyncio.TimeoutError | OSError):
        return True
    if isinstance(err, BusError | DatabaseUnavailableError):
        return True
    try:
        import asyncpg  # noqa: PLC0415 - only where asyncpg is in use
    except ImportError:  # pragma: no cover - the NATS-only producer
        return False
    if isinstance(err, asyncpg.InterfaceError):
        # asyncpg's client-side DataError (an InterfaceError that is also a ValueError)
        # means a Python value could not be encoded for its column: the row's fault.
        return not isinstance(err, ValueError)
    return isinstance(err, asyncpg.exceptions.InternalClientError)


def not_ready_hint(err: BaseException) -> str | None:
    """An operator's explanation when ``err`` means the schema is not there yet."""
    if _sqlstate(err) in _NOT_READY:
        return (
            "the analytics tables are missing or outdated in this database: run "
            "`analytics-migrate` (against the same DATABASE_URL) before starting writers"
        )
    return None


def describe(err: BaseException) -> str:
    """``Type: message`` for logs and stats, at most 500 characters; never raises (a
    hostile exception's ``str`` may). Driver messages carry no credentials."""
    try:
        text = f"{type(err).__name__}: {err}"
    except Exception:
        text = type(err).__name__
    hint = not_ready_hint(err)
    if hint is not None:
        text = f"{text} ({hint})"
    return text[:500]
