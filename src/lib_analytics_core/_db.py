"""Database access shared by every layer: one way to get a connection, one way to
translate driver errors.

Every public call that talks to the database accepts a pool, a connection, or a DSN
(:data:`Connectable`); :func:`acquire` turns any of them into one connection for the
duration of a block, and gives back only what it took (a pool's connection is
released, a DSN's connection closed, a caller's connection left open).

:func:`translate` is the boundary ``_errors`` promises: inside it, asyncpg and OS
errors become :class:`~lib_analytics_core.DatabaseUnavailableError` (the server is
gone or unreachable) or the given :class:`~lib_analytics_core.DatabaseError` subclass
(the server refused), each message naming the step that failed, with the driver's
error chained as ``__cause__``. A missing privilege says which one and how to grant it.

:func:`advisory_lock` holds a session advisory lock for a block; releasing it never
replaces the error that ended the block (on a dead connection the release fails too,
and the original error is the one worth seeing; the server drops a dead session's
locks by itself).
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from ._errors import AnalyticsError, DatabaseError, DatabaseUnavailableError

__all__ = ["Connectable", "acquire", "advisory_lock", "is_unavailable", "translate"]

logger = logging.getLogger("lib_analytics_core")

Connectable: TypeAlias = (
    "asyncpg.Pool[Any] | asyncpg.Connection[Any] | PoolConnectionProxy[Any] | str"
)
"""What database-facing calls accept: a pool, a connection, or a DSN."""

CONNECT_TIMEOUT = 10.0
"""Seconds to open a connection from a DSN before reporting the database unreachable."""

_UNAVAILABLE_STATES = ("08", "57P01", "57P02", "57P03", "53300")
"""Connection exceptions, admin/crash shutdown, cannot connect now, too many connections."""

_DENIED = re.compile(r"permission denied for (\w+) (\S+)")


def is_unavailable(err: BaseException) -> bool:
    """True when ``err`` means the server cannot be used right now (not that it refused)."""
    if isinstance(err, (OSError, TimeoutError, asyncpg.ConnectionDoesNotExistError)):
        return True
    if isinstance(err, asyncpg.InterfaceError):  # misuse is not an outage; a closed link is
        return "closed" in str(err)
    if isinstance(err, asyncpg.PostgresError):
        state = getattr(err, "sqlstate", "") or ""
        return state.startswith(_UNAVAILABLE_STATES)
    return False


def _privilege_hint(err: BaseException) -> str:
    if "create extension" in str(err):
        return (
            "creating the extension needs a superuser (or a trusted extension): have one run "
            "CREATE EXTENSION in this database first, or migrate with --tier partitioned"
        )
    m = _DENIED.search(str(err))
    if m is None:
        return "the connecting role lacks a privilege this step needs"
    kind, name = m.group(1), m.group(2).strip('"')
    if kind == "schema":
        return (
            f"the connecting role needs CREATE (and USAGE) on schema {name}: run as the "
            f"database owner, or GRANT CREATE ON SCHEMA {name} TO <role>"
        )
    if kind == "database":
        return f"the connecting role needs CREATE on database {name}"
    return f"the connecting role needs a privilege on {kind} {name} (or must own it)"


@contextlib.contextmanager
def translate(
    step: str, error: type[DatabaseError] = DatabaseError, *, failed: str = " failed"
) -> Iterator[None]:
    """Re-raise driver errors from the block as the library's own, naming ``step``.

    Messages read ``"<step> failed: <driver error>"`` (``failed=""`` when ``step`` is
    already phrased as a failure). Library errors pass through unchanged (an inner step
    already named itself).
    """
    try:
        yield
    except AnalyticsError:
        raise
    except (OSError, TimeoutError, asyncpg.InterfaceError, asyncpg.PostgresError) as err:
        detail = f"{type(err).__name__}: {err}"
        if is_unavailable(err):
            raise DatabaseUnavailableError(f"{step}: database unavailable: {detail}") from err
        if isinstance(err, asyncpg.InsufficientPrivilegeError):
            raise error(f"{step}: permission denied ({err}): {_privilege_hint(err)}") from err
        raise error(f"{step}{failed}: {detail}") from err


@contextlib.asynccontextmanager
async def acquire(
    target: Connectable, *, step: str = "connecting"
) -> AsyncIterator[asyncpg.Connection[Any]]:
    """One connection from ``target`` for the block (see the module docstring)."""
    if isinstance(target, str):
        with translate(step):
            conn: Any = await asyncpg.connect(target, timeout=CONNECT_TIMEOUT)
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
    """Hold session advisory lock ``key`` for the block (blocking until it is free)."""
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
