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

Errors are classified once (``ingest.errors``): a transient one (the server went away,
a timeout, a lock or serialization failure, too many connections, a schema not yet
migrated) is raised for the policy to retry; *any other* error on a batch — whatever
its SQLSTATE (22, 23, 54001 stack depth, …) or exception class — makes the writer bisect
the batch with the idempotent INSERT until each refused row is isolated; the others are
stored and each refused row goes to ``analytics_dead_letters`` with the database's
error, every field made storable first (``rows.storable``).

``timeout`` is the whole call's budget (connection, COPY or INSERT, every bisection
step, the release), as the sink contract says: a deadline is taken at the start and
each statement gets what is left of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from ..._connect import create_pool
from ...schema.facts import DEAD_LETTER_TABLE, EVENTS_TABLE, quote_ident
from ..errors import is_duplicate, is_transient
from ..fork import acquire_fork_safely
from ..rows import COLUMNS, MAX_DEAD_LETTER_ERROR_CHARS, Rejected, Row, refused_row, storable
from .base import SinkOutcome
from .pg_codecs import fast_row_codecs

if TYPE_CHECKING:
    from ..._config import AnalyticsConfig

__all__ = [
    "BatchWriter",
    "Conn",
    "PoolFactory",
    "PostgresSink",
    "WriteResult",
    "is_data_error",
]

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
    """The rows are at fault (bisect them): any error that is neither transient nor a
    unique violation (``ingest.errors`` is the one classification)."""
    return not is_transient(err) and not is_duplicate(err)


class _Budget:
    """What is left of one call's ``timeout``."""

    __slots__ = ("_end",)

    def __init__(self, timeout: float) -> None:
        self._end = time.monotonic() + timeout

    def left(self) -> float:
        remaining = self._end - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the write's time budget is spent")
        return remaining


@dataclass(slots=True)
class WriteResult:
    written: int
    rejected: list[Rejected]
    inserted: int = 0
    """Rows newly stored (``written`` less rows an earlier attempt already stored)."""


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
        target = quote_ident(EVENTS_TABLE)
        cols = ", ".join(quote_ident(c) for c in COLUMNS)
        self._insert_sql = (
            f"INSERT INTO {target} ({cols}) "
            "SELECT * FROM unnest($1::timestamptz[], $2::uuid[], $3::text[], $4::text[], "
            "$5::uuid[], $6::jsonb[]) "
            "ON CONFLICT DO NOTHING"
        )
        dl_target = quote_ident(DEAD_LETTER_TABLE)
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
        timeout: float | None = None,  # noqa: ASYNC109 - the whole call's budget
    ) -> WriteResult:
        """Store ``rows``; return how many were stored and which were refused.

        Raises (for the caller to retry) only on transient errors. Refused rows are
        returned, not raised; the caller dead-letters them via :meth:`dead_letter`.
        ``timeout`` is the budget of the whole call, bisection included; it defaults to
        the writer's ``write_timeout_secs``.
        """
        budget = _Budget(self._timeout if timeout is None else timeout)
        if self.copy_ok is None:
            self.copy_ok = await asyncio.wait_for(_supports_copy(conn), budget.left())
            logger.debug("analytics writer: copy=%s", self.uses_copy())
        if not rows:
            return WriteResult(0, [])
        if not idempotent and self.uses_copy():
            try:
                left = budget.left()
                # A deadline around the call, not only COPY's own timeout: asyncpg first
                # prepares an introspection query with no timeout at all, which a silent
                # network would stall forever. The caller terminates the connection on
                # timeout. ``asyncio.timeout`` rather than ``wait_for``, which runs the
                # call in a task of its own (a task per group commit, for nothing).
                async with asyncio.timeout(left):
                    await conn.copy_records_to_table(
                        self._table, records=rows, columns=COLUMNS, timeout=left
                    )
                return WriteResult(len(rows), [], len(rows))  # all or nothing
            except Exception as err:
                # A unique violation: part of this batch is already stored (a replayed
                # spool file, an earlier attempt that did commit); a refused value:
                # bisect. Both take the idempotent path.
                if is_transient(err):
                    raise
        return await self._write_splitting(conn, list(rows), budget)

    async def _insert(self, conn: Conn, rows: Sequence[Row], budget: _Budget) -> int:
        """Rows newly inserted (from the command tag, ``INSERT 0 n``)."""
        cols = list(zip(*rows, strict=True))
        left = budget.left()
        tag = await asyncio.wait_for(conn.execute(self._insert_sql, *cols, timeout=left), left)
        return _tag_count(tag, len(rows))

    async def _write_splitting(
        self,
        conn: Conn,
        rows: list[Row],
        budget: _Budget,
    ) -> WriteResult:
        try:
            inserted = await self._insert(conn, rows, budget)
            return WriteResult(len(rows), [], inserted)
        except Exception as err:
            if is_transient(err):
                raise
            if len(rows) == 1:
                row = rows[0]
                return WriteResult(
                    0,
                    [refused_row(row, _describe_refusal(err), getattr(err, "sqlstate", None))],
                )
            mid = len(rows) // 2
            left = await self._write_splitting(conn, rows[:mid], budget)
            right = await self._write_splitting(conn, rows[mid:], budget)
            return WriteResult(
                left.written + right.written,
                left.rejected + right.rejected,
                left.inserted + right.inserted,
            )

    async def dead_letter(
        self,
        conn: Conn,
        rejected: Sequence[Rejected],
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> int:
        """Keep refused events, with the reason, in ``analytics_dead_letters``; return
        how many were new (a refusal seen again, same ``event_id``, is kept once).

        Every field is made storable first (``rows.storable``): the payload that was
        refused may hold exactly what ``text`` refuses too (NUL bytes, lone
        surrogates), and so may a producer's error or SQLSTATE; a dead letter that
        cannot be stored would lose the evidence and be retried for ever.
        """
        if not rejected:
            return 0
        cols: list[list[Any]] = [[], [], [], [], [], [], []]
        for r in map(storable, rejected):
            cols[0].append(r.timestamp)
            cols[1].append(r.event_id)
            cols[2].append(r.event_type)
            cols[3].append(r.service)
            cols[4].append(r.payload)
            cols[5].append(r.error)
            cols[6].append(r.sqlstate)
        left = self._timeout if timeout is None else timeout
        tag = await asyncio.wait_for(conn.execute(self._dead_letter_sql, *cols, timeout=left), left)
        return _tag_count(tag, len(rejected))


def _tag_count(tag: object, default: int) -> int:
    """The row count of a command tag (``INSERT 0 5`` -> 5); ``default`` if none."""
    last = str(tag).rpartition(" ")[2]
    return int(last) if last.isdigit() else default


def _describe_refusal(err: BaseException) -> str:
    try:
        text = f"{type(err).__name__}: {err}"
    except Exception:
        text = type(err).__name__
    return text[:MAX_DEAD_LETTER_ERROR_CHARS]


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
            self._pool = await create_pool(
                arg,
                min_size=0,
                max_size=1,
                command_timeout=self._settings.write_timeout_secs,
                settings={"application_name": "lib-analytics-core worker"},
                init=fast_row_codecs,
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
        budget = _Budget(timeout)
        async with self._connection(budget) as conn:
            result = await self._writer.write(
                conn, rows, idempotent=redelivery, timeout=budget.left()
            )
        return SinkOutcome(result.written, result.rejected, result.inserted)

    async def dead_letter(self, refused: Sequence[Rejected], *, timeout: float) -> int:  # noqa: ASYNC109
        budget = _Budget(timeout)
        async with self._connection(budget) as conn:
            return await self._writer.dead_letter(conn, refused, budget.left())

    @contextlib.asynccontextmanager
    async def _connection(self, budget: _Budget) -> AsyncIterator[Conn]:
        """Borrow a connection for one call.

        A failed call's connection is terminated, never returned for reuse (its state is
        unknown, and a polite release over a blackholed network would wait forever).
        After a *successful* call, a failure to give the connection back (it died during
        the pool's reset query) does not make the call fail: the statement committed,
        and reporting it as failed would retry rows that are stored (issue 14 item 4).
        """
        if self._pool is None:  # open() returns at once otherwise: no task for it
            await asyncio.wait_for(self.open(), budget.left())
        pool = self._pool
        assert pool is not None
        conn = await acquire_fork_safely(pool, budget.left())
        try:
            yield conn
        except BaseException:
            with contextlib.suppress(Exception):
                conn.terminate()
            with contextlib.suppress(Exception):
                await pool.release(conn, timeout=_POOL_CLOSE_SECS)
            raise
        try:
            await pool.release(conn, timeout=max(0.05, min(_POOL_CLOSE_SECS, budget.left())))
        except Exception as err:
            logger.debug("analytics: connection lost while returning it to the pool: %r", err)
            with contextlib.suppress(Exception):  # asyncpg may have terminated it already
                conn.terminate()
