"""The ingest service's PostgreSQL sink, over today's :class:`BatchWriter`.

INTERIM (merge note): the write path is being split so that PostgreSQL becomes a
``PostgresSink`` implementing the same :class:`~..ingest.sinks.base.Sink` protocol. The
ingest service only ever calls :func:`postgres_sink`; at merge, that one function
returns the real ``PostgresSink`` and this module's class goes away.

What the writer already guarantees, and the ingest service relies on: binary COPY on a
first delivery, ``INSERT ... ON CONFLICT DO NOTHING`` on ``("timestamp", event_id)``
for a redelivery (or when COPY meets rows already stored), and bisection of a batch
with refused values so only the refused rows are dead-lettered.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import asyncpg

from .._config import AnalyticsConfig
from .._errors import DatabaseError, DatabaseUnavailableError
from ..ingest.encoding import Rejected, Row
from ..ingest.sinks.base import Sink, SinkOutcome
from ..ingest.writer import BatchWriter

__all__ = ["postgres_sink"]

#: Bound on closing the pool: a connection that does not answer a polite close is
#: terminated (a blackholed database must not hold up shutdown).
_CLOSE_SECS = 5.0


def postgres_sink(database_url: str, settings: AnalyticsConfig, *, pool_size: int) -> Sink:
    """The sink ``analytics-ingest`` writes through (the one place to swap at merge)."""
    return _WriterSink(database_url, settings, pool_size=pool_size)


class _WriterSink:
    name = "postgres"

    def __init__(self, database_url: str, settings: AnalyticsConfig, *, pool_size: int) -> None:
        self._dsn = database_url
        self._pool_size = pool_size
        self._writer = BatchWriter(
            schema=settings.schema,
            table=settings.table,
            write_method=settings.write_method,
            timeout=settings.write_timeout_secs,
        )
        self._pool: asyncpg.Pool[Any] | None = None

    async def open(self) -> None:
        if self._pool is not None:
            return
        try:
            self._pool = await asyncpg.create_pool(
                self._dsn, min_size=0, max_size=self._pool_size, command_timeout=None
            )
        except Exception as err:
            raise DatabaseUnavailableError(
                f"cannot open a pool to the database: {type(err).__name__}"
            ) from err

    @contextlib.asynccontextmanager
    async def _conn(self, timeout: float) -> Any:  # noqa: ASYNC109
        await self.open()
        assert self._pool is not None
        try:
            conn = await self._pool.acquire(timeout=timeout)
        except Exception as err:
            raise DatabaseUnavailableError(f"{type(err).__name__}: {err}") from err
        try:
            yield conn
        except BaseException:
            # State unknown: never reuse it. (A connection the server already dropped
            # has been detached by the pool, and terminate() would raise over the error.)
            with contextlib.suppress(Exception):
                conn.terminate()
            raise
        finally:
            with contextlib.suppress(Exception):
                await self._pool.release(conn, timeout=timeout)

    async def deliver(
        self,
        rows: Sequence[Row],
        *,
        redelivery: bool,
        timeout: float,  # noqa: ASYNC109
    ) -> SinkOutcome:
        async with self._conn(timeout) as conn:
            try:
                result = await asyncio.wait_for(
                    self._writer.write(conn, rows, idempotent=redelivery, timeout=timeout),
                    timeout,
                )
            except Exception as err:
                raise DatabaseError(f"write failed: {type(err).__name__}: {err}") from err
        return SinkOutcome(result.written, result.rejected)

    async def dead_letter(
        self,
        refused: Sequence[Rejected],
        *,
        timeout: float,  # noqa: ASYNC109
    ) -> None:
        if not refused:
            return
        async with self._conn(timeout) as conn:
            try:
                await self._writer.dead_letter(conn, refused, timeout)
            except Exception as err:
                raise DatabaseError(f"dead-letter insert failed: {type(err).__name__}") from err

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), _CLOSE_SECS)
        except Exception:
            pool.terminate()
