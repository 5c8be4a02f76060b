"""How every component opens its database connections, directly or through a
transaction-mode pooler (PgBouncer, and the poolers managed PostgreSQL services put in
front of the server).

In PgBouncer's transaction mode a client's consecutive transactions may run on
different server sessions, and the pooler refuses startup parameters it does not track.
So behind one, and only there:

* **no named prepared statements** (``statement_cache_size=0``): asyncpg's cached
  statements live in one server session, and the next transaction, on another session,
  fails with ``prepared statement "__asyncpg_stmt_1__" does not exist`` or, on a session
  that another client prepared it in, ``DuplicatePreparedStatementError`` (the worker's
  failure in issue 29). asyncpg then uses unnamed statements and re-parses them in the
  executing round trip (asyncpg#1065), so a statement never outlives its transaction;
* **no session settings at startup** beyond ``application_name`` (PgBouncer answers any
  other with ``unsupported startup parameter``: the API's and collector's 503s). The API
  applies its read-only mode and statement timeout per transaction instead
  (``api._database``);
* **no session state across transactions**: session advisory locks, ``SET``, ``LISTEN``
  and temporary tables outlive nothing. :func:`lib_analytics_core._db.advisory_lock`
  takes a transaction lock instead and runs its block in that one transaction.

Whether a URL leads to a pooler is asked, not configured: the process ID the server
announces at startup (``BackendKeyData``) is the backend's own on a direct connection;
PgBouncer announces a made-up one (its cancel key), so ``pg_backend_pid()`` differs.
One probe per URL and process, on a short connection of its own; a failed probe is not
remembered (the database may just be down) and raises like any connection attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

import asyncpg

from ._dburl import describe_database_url

__all__ = [
    "POOLER_PARAMETERS",
    "PooledConnection",
    "behind_pooler",
    "connect",
    "create_pool",
    "is_pooled",
]

logger = logging.getLogger("lib_analytics_core")

#: Startup parameters PgBouncer forwards (it tracks them per client); any other makes it
#: refuse the connection.
POOLER_PARAMETERS = frozenset(
    {"application_name", "client_encoding", "datestyle", "timezone", "standard_conforming_strings"}
)

PROBE_TIMEOUT = 10.0
"""Seconds the pooler probe may take to connect (as :data:`_db.CONNECT_TIMEOUT`)."""

_POOLED: dict[str, bool] = {}


class PooledConnection(asyncpg.Connection):
    """A connection through a transaction pooler. Released to an asyncpg pool, it sends
    no reset query: asyncpg's (``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET
    ALL``) would run on whichever server session the pooler picks, a round trip per
    release that resets nothing of ours and could release a session lock another client
    of the pooler holds there. An open transaction is still rolled back (asyncpg always
    does)."""

    def get_reset_query(self) -> str:
        return ""


_PROBES: dict[str, asyncio.Lock] = {}


async def is_pooled(conn: Any) -> bool:
    """True when ``conn`` (a connection or a pool's proxy) reaches the server through a
    transaction pooler: its announced process ID is not its backend's (one round trip)."""
    backend = await conn.fetchval("SELECT pg_backend_pid()")
    return bool(conn.get_server_pid() != backend)


async def behind_pooler(url: str, *, timeout: float = PROBE_TIMEOUT) -> bool:  # noqa: ASYNC109
    """Does ``url`` lead to a transaction pooler? Probed once per URL and process."""
    known = _POOLED.get(url)
    if known is not None:
        return known
    lock = _PROBES.setdefault(url, asyncio.Lock())
    async with lock:
        known = _POOLED.get(url)
        if known is not None:
            return known
        conn = await asyncpg.connect(url, statement_cache_size=0, timeout=timeout)
        try:
            pooled = await is_pooled(conn)
        finally:
            with contextlib.suppress(Exception):
                await conn.close(timeout=5)
            if not conn.is_closed():
                conn.terminate()
        _POOLED[url] = pooled
    if pooled:
        logger.info(
            "database %s is reached through a transaction pooler: no prepared statements, "
            "session settings per transaction (docs/operations.md)",
            describe_database_url(url),
        )
    return pooled


def _options(pooled: bool, settings: Mapping[str, str], kwargs: dict[str, Any]) -> dict[str, Any]:
    if not pooled:
        return {**kwargs, "server_settings": dict(settings)}
    forwarded = {k: v for k, v in settings.items() if k.lower() in POOLER_PARAMETERS}
    return {**kwargs, "server_settings": forwarded, "statement_cache_size": 0}


async def connect(
    url: str,
    *,
    settings: Mapping[str, str] | None = None,
    pooled_class: type[PooledConnection] | None = None,
    **kwargs: Any,
) -> asyncpg.Connection[Any]:
    """``asyncpg.connect(url, ...)`` with ``settings`` as startup parameters on a direct
    connection, and only the forwarded ones behind a pooler, as a
    :class:`PooledConnection` (or ``pooled_class``, which may apply the others per
    transaction)."""
    pooled = await behind_pooler(url, timeout=kwargs.get("timeout") or PROBE_TIMEOUT)
    options = _options(pooled, settings or {}, kwargs)
    if pooled:
        options["connection_class"] = pooled_class or PooledConnection
    conn: asyncpg.Connection[Any] = await asyncpg.connect(url, **options)
    return conn


async def create_pool(
    url: str,
    *,
    settings: Mapping[str, str] | None = None,
    pooled_class: type[PooledConnection] | None = None,
    **pool_kwargs: Any,
) -> asyncpg.Pool[Any]:
    """``asyncpg.create_pool(url, ...)`` whose connections are opened by :func:`connect`
    (the probe runs with the first connection, so a pool still starts while the database
    is down when ``min_size=0``)."""

    async def open_one(dsn: str, **kw: Any) -> asyncpg.Connection[Any]:
        kw.pop("server_settings", None)
        kw.pop("statement_cache_size", None)
        if await behind_pooler(dsn):
            kw.pop("connection_class", None)
        return await connect(dsn, settings=settings, pooled_class=pooled_class, **kw)

    opened: Any = open_one  # asyncpg-stubs type the hook narrower than asyncpg calls it
    pool: asyncpg.Pool[Any] = await asyncpg.create_pool(url, connect=opened, **pool_kwargs)
    return pool
