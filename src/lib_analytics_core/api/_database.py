"""The API's database: a lazily created asyncpg pool whose sessions are read-only."""

from __future__ import annotations

import asyncio
from typing import Any, Final

import asyncpg

from .._errors import DatabaseUnavailableError

__all__ = ["DEFAULT_POOL_MAX_SIZE", "DEFAULT_STATEMENT_TIMEOUT_MS", "ReadOnlyDatabase"]

#: A query running longer than this is cancelled by the server (protects the database).
DEFAULT_STATEMENT_TIMEOUT_MS: Final = 15_000
#: Concurrent queries per API process; dashboards issue ~8 requests per page load.
DEFAULT_POOL_MAX_SIZE: Final = 8


class ReadOnlyDatabase:
    """A lazily created asyncpg pool whose sessions are read-only.

    Lazy so the API starts (and ``/healthz`` answers 503) while the database is down,
    instead of crash-looping; created on the first request, closed at shutdown.
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

    async def pool(self) -> asyncpg.Pool[Any]:
        """The pool, created on first use."""
        if self._pool is not None:
            return self._pool
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._pool is None:
                try:
                    self._pool = await asyncpg.create_pool(
                        self._dsn,
                        min_size=0,
                        max_size=self._max_size,
                        server_settings={
                            "default_transaction_read_only": "on",
                            "statement_timeout": str(self._statement_timeout_ms),
                            "application_name": "lib-analytics-core api",
                        },
                    )
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
                    raise DatabaseUnavailableError(
                        f"cannot connect to the analytics database: {type(err).__name__}"
                    ) from err
        return self._pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), 5.0)
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                pool.terminate()
