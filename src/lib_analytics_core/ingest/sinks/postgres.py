"""The PostgreSQL sink: binary COPY, array INSERT, bisection of bad rows, dead letters.

Owns: the worker's pool (borrowed, or opened from a DSN/factory and closed at the end),
borrowing one connection per call under the fork guard, and the statements. Must not
touch: retries, backoff, deadlines, the spool or counters (``delivery`` does those for
every sink); it raises for "outcome unknown" and returns refused rows (see ``base``).

Two write paths, chosen once per server:

* **Binary COPY** (``copy_records_to_table``): the fastest way into PostgreSQL, used for
  the first attempt of every batch where the server supports it.
* **One array-parameter INSERT** (``INSERT ... SELECT FROM unnest($1::timestamptz[], ...)
  ON CONFLICT DO NOTHING``): one statement and one round trip per batch with six
  parameters whatever the batch size, so no parameter limit and one cached plan. Used
  where COPY is unavailable (PGlite/WASM builds, whose server process dies on
  ``COPY FROM STDIN``), and for every *retry*: a write whose outcome is unknown
  (connection lost after the commit was sent) may already be stored, and
  ``ON CONFLICT DO NOTHING`` on the ``(timestamp, event_id)`` key makes the retry
  idempotent.

A value the database refuses (SQLSTATE class 22 "data exception" or 23 "integrity
constraint") fails the whole statement. Rather than lose the batch, the writer bisects
it with the idempotent INSERT until each refused row is isolated; the others are stored
and each refused row goes to ``analytics_dead_letters`` with the database's error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from ...schema.facts import DEAD_LETTER_TABLE, EVENTS_TABLE
from ..encoding import COLUMNS, Rejected, Row
from ..fork import acquire_fork_safely
from .base import SinkOutcome

if TYPE_CHECKING:
    from ..._config import AnalyticsConfig

__all__ = ["BatchWriter", "Conn", "PoolFactory", "PostgresSink", "WriteResult", "is_data_error"]

logger = logging.getLogger("lib_analytics_core")

#: A plain connection or one borrowed from a pool: the writer works with both.
Conn: TypeAlias = "asyncpg.Connection[Any] | PoolConnectionProxy[Any]"

PoolFactory = Callable[[], Awaitable["asyncpg.Pool[Any]"]]


#: Bound on closing an owned pool: a connection that does not answer a polite close
#: in this time is terminated (a blackholed network must not stall shutdown).
_POOL_CLOSE_SECS = 1.0


async def _supports_copy(conn: Conn) -> bool:
    version = str(await conn.fetchval("SELECT version()"))
    # PGlite (PostgreSQL compiled to WASM) reports an Emscripten toolchain; its socket
    # server dies on COPY FROM STDIN, so it gets the array-INSERT path.
    return "emscripten" not in version.lower()


def is_data_error(err: BaseException) -> bool:
    """The database (or asyncpg's encoder) refused a *value*: retrying cannot help."""
    if isinstance(err, asyncpg.UniqueViolationError):
        return False
    if isinstance(err, asyncpg.PostgresError):
        state = getattr(err, "sqlstate", "") or ""
        return state.startswith(("22", "23"))
    # asyncpg raises its client-side DataError (an InterfaceError that is also a
    # ValueError; not ``asyncpg.DataError``, which is SQLSTATE 22000) when a Python value
    # cannot be encoded for its column, e.g. a string with a lone surrogate.
    return isinstance(err, asyncpg.InterfaceError) and isinstance(err, ValueError)


@dataclass(slots=True)
class WriteResult:
    written: int
    rejected: list[Rejected]


def _q(ident: str) -> str:
    return '"' + ident.replace('"', '""') + '"'


class BatchWriter:
    """Writes row batches through one connection at a time."""

    def __init__(
        self,
        *,
        write_method: str,
        timeout: float,
    ) -> None:
        # Unqualified names: the schema is the connection's search_path, exactly where
        # the migrations created it (schema.facts; set it in the DSN to use another).
        self._table = EVENTS_TABLE
        self._method = write_method
        self._timeout = timeout
        target = _q(EVENTS_TABLE)
        cols = ", ".join(_q(c) for c in COLUMNS)
        self._insert_sql = (
            f"INSERT INTO {target} ({cols}) "
            "SELECT * FROM unnest($1::timestamptz[], $2::uuid[], $3::text[], $4::text[], "
            "$5::uuid[], $6::jsonb[]) "
            "ON CONFLICT DO NOTHING"
        )
        dl_target = _q(DEAD_LETTER_TABLE)
        self._dead_letter_sql = (
            f"INSERT INTO {dl_target} "
            "(event_timestamp, event_id, event_type, service, payload, error, sqlstate) "
            "SELECT * FROM unnest($1::timestamptz[], $2::uuid[], $3::text[], $4::text[], "
            "$5::text[], $6::text[], $7::text[]) "
            "ON CONFLICT DO NOTHING"
        )
        self.copy_ok: bool | None = None  # detected on the first write

    def uses_copy(self) -> bool:
        if self._method == "insert":
            return False
        if self._method == "copy":
            return True
        return bool(self.copy_ok)

    async def write(
        self,
        conn: Conn,
        rows: Sequence[Row],
        *,
        idempotent: bool,
        timeout: float | None = None,  # noqa: ASYNC109 - per statement, clipped by the caller
    ) -> WriteResult:
        """Store ``rows``; return how many were stored and which were refused.

        Raises (for the caller to retry) only on transient errors. Refused rows are
        returned, not raised; the caller dead-letters them via :meth:`dead_letter`.
        ``timeout`` bounds each statement (the caller shortens it near a shutdown
        deadline); it defaults to the writer's ``write_timeout_secs``.
        """
        timeout = self._timeout if timeout is None else timeout
        if self.copy_ok is None:
            self.copy_ok = await asyncio.wait_for(_supports_copy(conn), timeout)
            logger.debug("analytics writer: copy=%s", self.uses_copy())
        if not rows:
            return WriteResult(0, [])
        if not idempotent and self.uses_copy():
            try:
                # wait_for, not only COPY's own timeout: asyncpg first prepares an
                # introspection query with no timeout at all, which a silent network
                # would stall forever. The caller terminates the connection on timeout.
                await asyncio.wait_for(
                    conn.copy_records_to_table(
                        self._table,
                        records=rows,
                        columns=COLUMNS,
                        timeout=timeout,
                    ),
                    timeout,
                )
                return WriteResult(len(rows), [])
            except asyncpg.UniqueViolationError:
                # Part of this batch is already stored (a replayed spool file, an
                # earlier attempt that did commit): fall back to the idempotent path.
                pass
            except Exception as err:
                if not is_data_error(err):
                    raise
        return await self._write_splitting(conn, list(rows), timeout)

    async def _insert(self, conn: Conn, rows: Sequence[Row], timeout: float) -> None:  # noqa: ASYNC109
        cols = list(zip(*rows, strict=True))
        await conn.execute(self._insert_sql, *cols, timeout=timeout)

    async def _write_splitting(
        self,
        conn: Conn,
        rows: list[Row],
        timeout: float,  # noqa: ASYNC109
    ) -> WriteResult:
        try:
            await self._insert(conn, rows, timeout)
            return WriteResult(len(rows), [])
        except Exception as err:
            if not is_data_error(err):
                raise
            if len(rows) == 1:
                row = rows[0]
                return WriteResult(
                    0,
                    [
                        Rejected(
                            row[0],
                            row[1],
                            row[2],
                            row[3],
                            row[5],
                            f"{type(err).__name__}: {err}"[:2000],
                            getattr(err, "sqlstate", None),
                        )
                    ],
                )
            mid = len(rows) // 2
            left = await self._write_splitting(conn, rows[:mid], timeout)
            right = await self._write_splitting(conn, rows[mid:], timeout)
            return WriteResult(left.written + right.written, left.rejected + right.rejected)

    async def dead_letter(
        self,
        conn: Conn,
        rejected: Sequence[Rejected],
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> None:
        """Keep refused events, with the reason, in ``analytics_dead_letters``.

        Every text is made storable first: the payload that was refused may hold
        exactly what ``text`` refuses too (NUL bytes, lone surrogates), and a dead
        letter that cannot be stored would lose the evidence.
        """
        if not rejected:
            return
        cols: list[list[Any]] = [[], [], [], [], [], [], []]
        for r in rejected:
            cols[0].append(r.timestamp)
            cols[1].append(r.event_id)
            cols[2].append(_storable(r.event_type)[:100])
            cols[3].append(_storable(r.service)[:100])
            cols[4].append(_storable(r.payload))
            cols[5].append(_storable(r.error))
            cols[6].append(r.sqlstate)
        await conn.execute(
            self._dead_letter_sql, *cols, timeout=self._timeout if timeout is None else timeout
        )


def _storable(text: str) -> str:
    """``text`` as PostgreSQL ``text`` accepts it: NULs and lone surrogates escaped."""
    text = text.replace("\x00", "\\u0000")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


class PostgresSink:
    """Delivers rows into the events table through an asyncpg pool.

    ``pool`` is an ``asyncpg.Pool`` (borrowed: one connection per call, never closed
    here), a DSN string (a small pool of its own, opened lazily and closed by
    :meth:`close`), or an async callable returning a pool (owned likewise).
    """

    name = "postgres"

    def __init__(
        self, settings: AnalyticsConfig, pool: asyncpg.Pool[Any] | str | PoolFactory
    ) -> None:
        self._settings = settings
        self._pool_arg = pool
        self._pool: asyncpg.Pool[Any] | None = None
        self._owns_pool = False
        self._writer = BatchWriter(
            write_method=settings.write_method,
            timeout=settings.write_timeout_secs,
        )

    async def open(self) -> None:
        if self._pool is not None:
            return
        arg = self._pool_arg
        if isinstance(arg, asyncpg.Pool):
            self._pool, self._owns_pool = arg, False
        elif isinstance(arg, str):
            # min_size=0: starting the worker never needs the database to be up.
            # command_timeout also bounds asyncpg's own background query cancellation.
            self._pool = await asyncpg.create_pool(
                arg,
                min_size=0,
                max_size=1,
                command_timeout=self._settings.write_timeout_secs,
                server_settings={"application_name": "lib-analytics-core worker"},
            )
            self._owns_pool = True
        else:
            self._pool, self._owns_pool = await arg(), True

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None and self._owns_pool:
            try:
                await asyncio.wait_for(pool.close(), _POOL_CLOSE_SECS)
            except (Exception, asyncio.CancelledError):
                pool.terminate()

    async def deliver(
        self,
        rows: Sequence[Row],
        *,
        redelivery: bool,
        timeout: float,  # noqa: ASYNC109 - the policy's budget, passed to the driver
    ) -> SinkOutcome:
        async with self._connection(timeout) as conn:
            result = await self._writer.write(conn, rows, idempotent=redelivery, timeout=timeout)
        return SinkOutcome(result.written, result.rejected)

    async def dead_letter(self, refused: Sequence[Rejected], *, timeout: float) -> None:  # noqa: ASYNC109
        async with self._connection(timeout) as conn:
            await self._writer.dead_letter(conn, refused, timeout)

    @contextlib.asynccontextmanager
    async def _connection(self, timeout: float) -> AsyncIterator[Conn]:  # noqa: ASYNC109
        """Borrow a connection for one call.

        A failed call's connection is terminated, never returned for reuse (its state is
        unknown, and a polite release over a blackholed network would wait forever).
        After a *successful* call, a failure to give the connection back (it died during
        the pool's reset query) does not make the call fail: the statement committed,
        and reporting it as failed would retry rows that are stored (issue 14 item 4).
        """
        await self.open()
        pool = self._pool
        assert pool is not None
        conn = await acquire_fork_safely(pool, timeout)
        try:
            yield conn
        except BaseException:
            with contextlib.suppress(Exception):
                conn.terminate()
            with contextlib.suppress(Exception):
                await pool.release(conn, timeout=timeout)
            raise
        try:
            await pool.release(conn, timeout=timeout)
        except Exception as err:
            logger.debug("analytics: connection lost while returning it to the pool: %r", err)
            with contextlib.suppress(Exception):  # asyncpg may have terminated it already
                conn.terminate()
