"""The API's database: a lazily created asyncpg pool whose sessions are read-only.

Read-only and the statement timeout are startup parameters of each session on a direct
connection. Behind a transaction pooler (``_connect``), which refuses them and hands
each transaction to any server session, every statement outside an explicit
transaction runs in one that sets them (:class:`_PerTransaction`): ``BEGIN READ ONLY;
SET LOCAL statement_timeout``, the statement, ``COMMIT`` (two more round trips per
query there, docs/operations.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, Final

import asyncpg

from .._connect import PooledConnection, connect, create_pool
from .._errors import DatabaseUnavailableError
from ..schema.facts import ACTIVE_USERS_TABLE, AGGREGATES, EVENTS_TABLE

__all__ = ["DEFAULT_POOL_MAX_SIZE", "DEFAULT_STATEMENT_TIMEOUT_MS", "ReadOnlyDatabase"]

#: A query running longer than this is cancelled by the server (protects the database).
DEFAULT_STATEMENT_TIMEOUT_MS: Final = 15_000
#: Concurrent queries per API process; dashboards issue ~8 requests per page load.
DEFAULT_POOL_MAX_SIZE: Final = 8
#: How long a probe waits for the database before it counts as a failure.
HEALTH_TIMEOUT_S: Final = 5.0
#: How often the background probe behind ``/healthz`` asks the database (seconds).
HEALTH_INTERVAL_S: Final = 1.0
#: The relations every ``/v1`` answer reads: if one is missing the database is not
#: migrated (or only half: ``analytics-migrate pre`` without ``post``).
_REQUIRED: Final = (EVENTS_TABLE, *AGGREGATES, ACTIVE_USERS_TABLE)
_MIGRATED_SQL: Final = "SELECT bool_and(to_regclass(n) IS NOT NULL) FROM unnest($1::text[]) AS n"


async def _no_reset(_conn: asyncpg.Connection[Any]) -> None:
    """What a released connection runs beyond asyncpg's own clean-up: nothing.

    asyncpg always rolls back an open transaction and drops listeners on release; its
    default ``reset`` then sends ``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
    RESET ALL`` and waits for it: a second round trip for every query, a sixth of the
    cache-miss path's CPU in the load profile (issue 20). The API's queries (``read/``,
    ``schema.health``) take no advisory lock, open no cursor, LISTEN to nothing and SET
    nothing, so there is nothing to undo; the session settings (read-only, statement
    timeout) are the connection's startup parameters and stay.
    """


class _PerTransaction(PooledConnection):
    """A pooled session's connection that runs each statement outside a transaction in a
    read-only one with the API's statement timeout (a subclass per timeout sets
    ``_begin``). Statements inside a caller's transaction (the read layer's cursors,
    already read-only) run as they are."""

    _begin = "BEGIN READ ONLY"

    async def _in_transaction(self, run: Any) -> Any:
        if self.is_in_transaction():
            return await run()
        await super().execute(self._begin)
        try:
            result = await run()
        except BaseException:
            if not self.is_closed():
                with contextlib.suppress(Exception):
                    await super().execute("ROLLBACK")
            raise
        await super().execute("COMMIT")
        return result

    async def fetch(self, query: str, *args: Any, **kw: Any) -> Any:
        return await self._in_transaction(
            lambda: super(_PerTransaction, self).fetch(query, *args, **kw)
        )

    async def fetchrow(self, query: str, *args: Any, **kw: Any) -> Any:
        return await self._in_transaction(
            lambda: super(_PerTransaction, self).fetchrow(query, *args, **kw)
        )

    async def fetchval(self, query: str, *args: Any, **kw: Any) -> Any:
        return await self._in_transaction(
            lambda: super(_PerTransaction, self).fetchval(query, *args, **kw)
        )

    async def copy_from_query(self, query: str, *args: Any, **kw: Any) -> Any:
        return await self._in_transaction(
            lambda: super(_PerTransaction, self).copy_from_query(query, *args, **kw)
        )


def _per_transaction(statement_timeout_ms: int) -> type[PooledConnection]:
    begin = f"BEGIN READ ONLY; SET LOCAL statement_timeout = {int(statement_timeout_ms)}"
    return type("ReadOnlyPerTransaction", (_PerTransaction,), {"_begin": begin})


class ReadOnlyDatabase:
    """A lazily created asyncpg pool whose sessions are read-only.

    Lazy so the API starts (and ``/healthz`` answers 503) while the database is down,
    instead of crash-looping; created on the first request, closed at shutdown. The
    health check has a connection of its own (:meth:`ping`).
    """

    def __init__(
        self,
        dsn: str,
        *,
        max_size: int = DEFAULT_POOL_MAX_SIZE,
        statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS,
    ) -> None:
        self._dsn = dsn
        self._max_size = max_size
        self._statement_timeout_ms = statement_timeout_ms
        self._pool: asyncpg.Pool[Any] | None = None
        self._lock: asyncio.Lock | None = None
        self._health: asyncpg.Connection[Any] | None = None
        self._health_lock: asyncio.Lock | None = None
        self._prober: asyncio.Task[None] | None = None
        self._first: asyncio.Future[bool] | None = None
        self._last_ok: float | None = None
        self.migrated: bool | None = None
        """Whether the last probe found the schema every answer reads (None: not asked
        yet). ``/healthz`` is not "ok" on a database that is not migrated."""

    def _settings(self) -> dict[str, str]:
        return {
            "default_transaction_read_only": "on",
            "statement_timeout": str(self._statement_timeout_ms),
            "application_name": "lib-analytics-core api",
        }

    async def pool(self) -> asyncpg.Pool[Any]:
        """The pool, created on first use."""
        if self._pool is not None:
            return self._pool
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._pool is None:
                try:
                    self._pool = await create_pool(
                        self._dsn,
                        min_size=0,
                        max_size=self._max_size,
                        settings=self._settings(),
                        pooled_class=_per_transaction(self._statement_timeout_ms),
                        reset=_no_reset,
                    )
                except (
                    OSError,
                    TimeoutError,
                    asyncpg.PostgresError,
                    asyncpg.InterfaceError,
                ) as err:
                    raise DatabaseUnavailableError(
                        f"cannot connect to the analytics database: {type(err).__name__}"
                    ) from err
        return self._pool

    async def ping(self) -> bool:
        """True if the database answers ``SELECT 1`` within :data:`HEALTH_TIMEOUT_S`.

        On a connection of its own, not from the pool: when every pooled connection is
        busy with dashboard queries, a health check queued behind them would report a
        healthy database as down (and an orchestrator would restart a healthy API).
        Probes run one at a time; a failed connection is dropped and reopened next time.
        """
        if self._health_lock is None:
            self._health_lock = asyncio.Lock()
        async with self._health_lock:
            try:
                async with asyncio.timeout(HEALTH_TIMEOUT_S):
                    if self._health is None or self._health.is_closed():
                        self._health = await connect(self._dsn, settings=self._settings())
                    self.migrated = bool(await self._health.fetchval(_MIGRATED_SQL, _REQUIRED))
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                conn, self._health = self._health, None
                if conn is not None:
                    conn.terminate()
                return False
            return True

    async def healthy(self) -> bool:
        """Did the database answer a probe within the last ``HEALTH_TIMEOUT_S +
        HEALTH_INTERVAL_S`` seconds? What ``/healthz`` answers.

        From a background probe (:meth:`ping` every :data:`HEALTH_INTERVAL_S`), not a
        round trip per request: under the dashboard's load a database starved of CPU (by
        the API's own queries or a neighbour's) made every ``/healthz`` wait for it
        (max 2.6-9.9 s on this machine) and an orchestrator would have restarted a
        healthy API. The first call, and the first after the probe stopped, asks directly.
        """
        if self._prober is None or self._prober.done():
            self._first = asyncio.get_running_loop().create_future()
            self._prober = asyncio.create_task(self._probe_forever(self._first))
        if self._first is not None and not self._first.done():
            return await asyncio.shield(self._first)
        last = self._last_ok
        return last is not None and time.monotonic() - last <= HEALTH_TIMEOUT_S + HEALTH_INTERVAL_S

    async def _probe_forever(self, first: asyncio.Future[bool]) -> None:
        while True:
            ok = await self.ping()
            if ok:
                self._last_ok = time.monotonic()
            if not first.done():
                first.set_result(ok)
            await asyncio.sleep(HEALTH_INTERVAL_S)

    async def close(self) -> None:
        prober, self._prober = self._prober, None
        if prober is not None:
            prober.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await prober
        health, self._health = self._health, None
        if health is not None:
            health.terminate()
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), 5.0)
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                pool.terminate()
