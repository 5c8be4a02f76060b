"""Database access shared by every layer: one way to get a connection, one way to
translate driver errors.

Every public call that talks to the database accepts a pool, a connection, or a DSN
(:data:`Connectable`); :func:`acquire` turns any of them into one connection for the
duration of a block, and gives back only what it took (a pool's connection is
released, a DSN's connection closed, a caller's connection left open).

:func:`translate` is the boundary ``_errors`` promises: inside it, asyncpg and OS
errors become :class:`~lib_analytics_core.DatabaseUnavailableError` (the server is
gone or unreachable), :class:`~lib_analytics_core.NotMigratedError` or the given
:class:`~lib_analytics_core.DatabaseError` subclass, each message naming the step that
failed, each carrying the one classification (``_dberrors``) as ``kind``, with the
driver's error chained as ``__cause__``. A missing privilege says which one and how to
grant it.

:func:`advisory_lock` holds a session advisory lock for a block; releasing it never
replaces the error that ended the block (on a dead connection the release fails too,
and the original error is the one worth seeing; the server drops a dead session's
locks by itself). Behind a transaction pooler (``_connect``) a session lock would stay
with whichever server session took it and the release could run on another one, so
there the block runs in one transaction holding ``pg_advisory_xact_lock``: the pooler
keeps one server session for an open transaction, the block's own transactions become
savepoints in it, and SQL that takes the same lock again (the maintenance functions) is
in the same session, as it is on a direct connection. Its cost: the block commits as a
whole, and a statement that cannot run in a transaction block (TimescaleDB's
``refresh_continuous_aggregate``) cannot run in it behind a pooler.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from ._connect import connect, is_pooled
from ._dberrors import classify, hint
from ._errors import (
    AnalyticsError,
    DatabaseError,
    DatabaseUnavailableError,
    ErrorKind,
    NotMigratedError,
)

__all__ = [
    "DRIVER_ERRORS",
    "Connectable",
    "acquire",
    "advisory_lock",
    "is_unavailable",
    "translate",
    "translated",
]

logger = logging.getLogger("lib_analytics_core")

Connectable: TypeAlias = (
    "asyncpg.Pool[Any] | asyncpg.Connection[Any] | PoolConnectionProxy[Any] | str"
)
"""What database-facing calls accept: a pool, a connection, or a DSN."""

#: What the driver raises for a failed call (everything :func:`translate` translates).
DRIVER_ERRORS = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresError,
    asyncpg.InternalClientError,
)

CONNECT_TIMEOUT = 10.0
"""Seconds to open a connection from a DSN before reporting the database unreachable."""


def is_unavailable(err: BaseException) -> bool:
    """True when ``err`` means the server cannot be used right now (not that it refused):
    ``classify(err) is ErrorKind.UNAVAILABLE`` (``_dberrors``)."""
    return classify(err) is ErrorKind.UNAVAILABLE


@contextlib.contextmanager
def translate(
    step: str, error: type[DatabaseError] = DatabaseError, *, failed: str = " failed"
) -> Iterator[None]:
    """Re-raise driver errors from the block as the library's own, naming ``step``.

    Messages read ``"<step> failed: <driver error>"`` (``failed=""`` when ``step`` is
    already phrased as a failure), followed by what an operator should do where
    ``_dberrors.hint`` knows. The exception carries the one classification as ``kind``:
    an unavailable server raises :class:`DatabaseUnavailableError`, a missing schema
    :class:`NotMigratedError` (unless ``error`` is more specific, as a migration's
    own :class:`MigrationError` is), anything else ``error``. Library errors pass
    through unchanged (an inner step already named itself).
    """
    try:
        yield
    except AnalyticsError:
        raise
    except DRIVER_ERRORS as err:
        raise translated(step, err, error, failed=failed) from err


def translated(
    step: str,
    err: BaseException,
    error: type[DatabaseError] = DatabaseError,
    *,
    failed: str = " failed",
) -> DatabaseError:
    """The library error :func:`translate` raises for driver error ``err`` (for the
    callers that catch the driver's errors themselves)."""
    kind = classify(err)
    detail = f"{type(err).__name__}: {err}"
    advice = hint(err)
    if kind is ErrorKind.UNAVAILABLE:
        return DatabaseUnavailableError(f"{step}: database unavailable: {detail}")
    if kind is ErrorKind.PERMISSION:
        return error(f"{step}: permission denied ({err}): {advice}", kind=kind)
    cls = NotMigratedError if kind is ErrorKind.NOT_MIGRATED and error is DatabaseError else error
    message = f"{step}{failed}: {detail}"
    return cls(f"{message} ({advice})" if advice else message, kind=kind)


@contextlib.asynccontextmanager
async def acquire(
    target: Connectable, *, step: str = "connecting"
) -> AsyncIterator[asyncpg.Connection[Any]]:
    """One connection from ``target`` for the block (see the module docstring); a DSN is
    opened by ``_connect.connect`` (directly or through a transaction pooler)."""
    if isinstance(target, str):
        with translate(step):
            conn: Any = await connect(target, timeout=CONNECT_TIMEOUT)
        try:
            yield conn
        finally:
            with contextlib.suppress(Exception):
                await conn.close(timeout=5)
            if not conn.is_closed():
                conn.terminate()
    elif isinstance(target, asyncpg.Pool):
        with translate(step):
            pooled: Any = await target.acquire()
        try:
            yield pooled
        finally:
            with contextlib.suppress(Exception):
                await target.release(pooled)
    else:
        yield target  # type: ignore[misc]  # a PoolConnectionProxy behaves as a Connection


@contextlib.asynccontextmanager
async def advisory_lock(
    conn: asyncpg.Connection[Any],
    key: int,
    *,
    step: str,
    error: type[DatabaseError] = DatabaseError,
) -> AsyncIterator[None]:
    """Hold session advisory lock ``key`` for the block (blocking until it is free);
    behind a transaction pooler, a transaction lock around the block run as one
    transaction (see the module docstring)."""
    with translate(f"{step}: taking advisory lock {key}", error):
        pooled = await is_pooled(conn)
    if pooled:
        async with conn.transaction():
            with translate(f"{step}: taking advisory lock {key}", error):
                await conn.execute("SELECT pg_advisory_xact_lock($1)", key)
            yield
        return
    with translate(f"{step}: taking advisory lock {key}", error):
        await conn.execute("SELECT pg_advisory_lock($1)", key)
    try:
        yield
    except BaseException:
        try:
            await conn.execute("SELECT pg_advisory_unlock($1)", key)
        except Exception as unlock_err:  # the block's error matters more
            logger.debug("advisory unlock after a failed %s also failed: %r", step, unlock_err)
        raise
    with translate(f"{step}: releasing advisory lock {key}", error):
        await conn.execute("SELECT pg_advisory_unlock($1)", key)
