"""The one execution point of the read layer (Datasette's ``Database.execute()``).

Every statement any question sends goes through :func:`fetch` or :func:`stream`, so
three things are decided here and nowhere else:

* **time limit**: each statement runs with asyncpg's ``timeout`` (the server-side query
  is cancelled when it expires). The limit is :data:`DEFAULT_TIME_LIMIT_S`, or what the
  caller set for the current context with :func:`time_limit`, or a ``limit_s=`` passed
  to the call. An expired limit is reported like the
  server's own ``statement_timeout``: a :class:`~lib_analytics_core.DatabaseError` whose
  cause is ``asyncpg.QueryCanceledError``.
* **error classification**: driver errors become the library's through the one
  classification in :mod:`lib_analytics_core._db` (``translate``/``is_unavailable``);
  nothing here decides what "unavailable" means.
* **planner settings of heavy reads** (:data:`HEAVY_SETTINGS`): statements that read
  raw rows by the million (explore, streamed exports) run with JIT off and a
  larger ``work_mem``, set with ``SET LOCAL`` inside the statement's own read-only
  transaction. Per transaction, not per session, because PgBouncer in transaction mode
  neither forwards startup parameters nor keeps a session's ``SET`` on one server
  connection; ``LOCAL`` dies with the transaction, so the pooled connection goes back
  as it came.
* **tracing**: inside ``with tracing(callback):`` every statement reports a
  :class:`Trace` (question, SQL, duration, rows, error) to ``callback``; without it,
  nothing is recorded and nothing is paid.

:class:`Params` numbers bind parameters while a statement is assembled: values only ever
travel as parameters, and SQL text is made only of the read layer's own constants and
validated identifiers.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

import asyncpg

from .. import _db

__all__ = [
    "COPY_QUEUE_CHUNKS",
    "DEFAULT_STREAM_CHUNK",
    "DEFAULT_TIME_LIMIT_S",
    "HEAVY_SETTINGS",
    "Db",
    "Params",
    "Trace",
    "copy_csv",
    "fetch",
    "fetchrow",
    "stream",
    "time_limit",
    "tracing",
]

#: What every read accepts: an ``asyncpg`` pool or connection (a read-only role suffices).
Db = Any

#: Seconds a read statement may run when nobody set a limit. Long enough for any question
#: the read layer answers at 10M events (BENCHMARKS.md), short enough that a runaway query
#: does not hold a connection for minutes.
DEFAULT_TIME_LIMIT_S: Final = 60.0
#: Rows fetched per round trip by :func:`stream`: large enough to amortise the round trip
#: (a few ms), small enough that memory stays flat (~1-2 MB per chunk of a wide series).
DEFAULT_STREAM_CHUNK: Final = 5_000

#: Chunks of CSV text :func:`copy_csv` holds while its reader is slower than the server
#: (asyncpg's COPY chunks are up to ~64 KiB): the server waits beyond that.
COPY_QUEUE_CHUNKS: Final = 8

#: ``SET LOCAL`` of statements over raw rows (``fetch(..., heavy=True)``, :func:`stream`;
#: not :func:`copy_csv`, whose statements read the aggregates). JIT off: on a table of
#: 90 daily partitions the planner's cost of a
#: 1M-row explore passes ``jit_above_cost`` and compiling the per-partition expressions
#: cost more than the query (EXPLAIN ANALYZE at 10M: 9.8 s with JIT, 5.8 s without;
#: BENCHMARKS.md). ``work_mem`` 64 MB: the sorts of an exact percentile and of
#: ``count(DISTINCT)`` over ~1M rows fit in memory instead of spilling at the 4 MB
#: default; it is per sort node of one statement, so a heavy read holds at most a few
#: times that (the read pool is small: ``api`` opens at most its pool size of them).
HEAVY_SETTINGS: Final = "SET LOCAL jit = off; SET LOCAL work_mem = '64MB'"
#: Added to :data:`HEAVY_SETTINGS` for a heavy read that spans many partitions
#: (``fetch(..., heavy=True, parallel=True)``): the planner's default price of passing a
#: row from a parallel worker to the leader (``parallel_tuple_cost`` 0.1, ten times a
#: row's own ``cpu_tuple_cost``) kept explore's scans of ~1M rows serial. At 0.01 two
#: workers read the partitions: at 10M events, per-day p95 of a type with 0.8M rows over
#: 90 days went from 1.0 to 0.8 s (PostgreSQL) and 0.96 to 0.65 s (TimescaleDB), medians
#: of A/B rounds on a quiet machine (BENCHMARKS.md). Not for one or two days' rows: a
#: worker's start then costs more than it saves (a 1-day question's median went from
#: 66-72 to 77-94 ms), and the planner offers a partition's scan to workers whatever its
#: size (``min_parallel_table_scan_size`` applies to tables, not to partitions).
PARALLEL_SETTINGS: Final = "SET LOCAL parallel_tuple_cost = 0.01"

_LIMIT: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "lib_analytics_core_read_time_limit", default=None
)
_TRACERS: contextvars.ContextVar[tuple[Callable[[Trace], None], ...]] = contextvars.ContextVar(
    "lib_analytics_core_read_tracers", default=()
)


@dataclass(frozen=True, slots=True)
class Trace:
    """One statement as it ran: for logs, profiles and tests (never holds bound values)."""

    question: str
    sql: str
    duration_s: float
    rows: int
    error: str | None = None


@contextlib.contextmanager
def tracing(callback: Callable[[Trace], None]) -> Iterator[None]:
    """Report every read statement run in this context (task) to ``callback``."""
    token = _TRACERS.set((*_TRACERS.get(), callback))
    try:
        yield
    finally:
        _TRACERS.reset(token)


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Run the reads of this context with at most ``seconds`` per statement (None: the
    default, :data:`DEFAULT_TIME_LIMIT_S`)."""
    if seconds is not None and not seconds > 0:
        raise ValueError(f"a time limit must be positive, got {seconds!r}")
    token = _LIMIT.set(seconds)
    try:
        yield
    finally:
        _LIMIT.reset(token)


class Params:
    """Bind parameters of one statement, numbered as they are added.

    ``p = Params(lo, hi)`` holds ``$1``/``$2``; ``p.add(value)`` appends a value and
    returns its placeholder (``"$3"``). Pass ``*p.values`` to :func:`fetch`.
    """

    __slots__ = ("values",)

    def __init__(self, *values: object) -> None:
        self.values: list[object] = list(values)

    def add(self, value: object) -> str:
        self.values.append(value)
        return f"${len(self.values)}"

    def __len__(self) -> int:
        return len(self.values)


def _limit(limit_s: float | None) -> float:
    if limit_s is not None:
        return limit_s
    chosen = _LIMIT.get()
    return DEFAULT_TIME_LIMIT_S if chosen is None else chosen


def _cancelled(limit: float) -> asyncpg.QueryCanceledError:
    """The error a server-side ``statement_timeout`` raises, for a limit that expired
    on this side (asyncpg has cancelled the query on the server already): one kind of
    "too slow" for every caller, classified by ``_db`` like the server's own."""
    return asyncpg.QueryCanceledError(f"canceling statement: read time limit of {limit:g} s")


@contextlib.contextmanager
def _classified(question: str) -> Iterator[None]:
    """``_db.translate`` around one statement: the one classification decides the kind
    (a missing schema is a ``NotMigratedError`` whose message says to migrate)."""
    with _db.translate(f"read {question}"):
        yield


def _report(question: str, sql: str, t0: float, rows: int, error: BaseException | None) -> None:
    tracers = _TRACERS.get()
    if not tracers:
        return
    trace = Trace(
        question,
        sql,
        time.perf_counter() - t0,
        rows,
        None if error is None else type(error).__name__,
    )
    for callback in tracers:
        callback(trace)


async def fetch(
    db: Db,
    question: str,
    sql: str,
    *args: object,
    limit_s: float | None = None,
    heavy: bool = False,
    parallel: bool = False,
) -> list[asyncpg.Record]:
    """All rows of one read statement (see the module docstring for what is decided here).

    ``question``: a short name for errors and traces (``"latency.api_latency"``).
    ``heavy``: run it with :data:`HEAVY_SETTINGS` in a read-only transaction of its own
    (two more round trips: for statements that read raw rows by the million), and with
    ``parallel`` also :data:`PARALLEL_SETTINGS` (for those that span many partitions).
    """
    limit = _limit(limit_s)
    t0 = time.perf_counter()
    rows: list[asyncpg.Record] = []
    failure: BaseException | None = None
    try:
        with _classified(question):
            try:
                if heavy:
                    settings = HEAVY_SETTINGS
                    if parallel:
                        settings = f"{HEAVY_SETTINGS}; {PARALLEL_SETTINGS}"
                    rows = await _fetch_heavy(db, question, sql, args, limit, settings)
                else:
                    rows = await db.fetch(sql, *args, timeout=limit)
            except TimeoutError as err:
                raise _cancelled(limit) from err
    except BaseException as err:
        failure = err
        raise
    finally:
        _report(question, sql, t0, len(rows), failure)
    return rows


async def _fetch_heavy(  # noqa: PLR0917 - fetch's own arguments, passed on
    db: Db, question: str, sql: str, args: Sequence[object], limit: float, settings: str
) -> list[asyncpg.Record]:
    """``sql`` under ``settings`` (``SET LOCAL`` statements): ``BEGIN`` and the settings
    in one round trip. Inside a transaction the caller opened, they last until its end."""
    async with _db.acquire(db, step=f"read {question}: connecting") as conn:
        if conn.is_in_transaction():
            await conn.execute(settings, timeout=limit)
            rows: list[asyncpg.Record] = await conn.fetch(sql, *args, timeout=limit)
            return rows
        await conn.execute(f"BEGIN READ ONLY; {settings}", timeout=limit)
        try:
            rows = await conn.fetch(sql, *args, timeout=limit)
        except BaseException:
            if not conn.is_closed():
                with contextlib.suppress(Exception):
                    await conn.execute("ROLLBACK", timeout=limit)
            raise
        await conn.execute("COMMIT", timeout=limit)
        return rows


async def fetchrow(
    db: Db, question: str, sql: str, *args: object, limit_s: float | None = None
) -> asyncpg.Record | None:
    """The first row of one read statement, or None."""
    rows = await fetch(db, question, sql, *args, limit_s=limit_s)
    return rows[0] if rows else None


async def stream(
    db: Db,
    question: str,
    sql: str,
    *args: object,
    chunk: int = DEFAULT_STREAM_CHUNK,
    limit_s: float | None = None,
) -> AsyncIterator[list[asyncpg.Record]]:
    """The rows of one read statement in chunks of at most ``chunk``, from a server-side
    cursor (in a read-only transaction on one connection): memory stays that of one chunk
    whatever the number of rows (CSV exports of long series). The time limit applies to
    each round trip."""
    limit = _limit(limit_s)
    t0 = time.perf_counter()
    total = 0
    failure: BaseException | None = None
    try:
        with _classified(question):
            async with (
                _db.acquire(db, step=f"read {question}: connecting") as conn,
                conn.transaction(readonly=True),
            ):
                try:
                    await conn.execute(HEAVY_SETTINGS, timeout=limit)
                    cursor = await conn.cursor(sql, *args, timeout=limit)
                    while True:
                        rows = await cursor.fetch(chunk, timeout=limit)
                        if not rows:
                            break
                        total += len(rows)
                        yield rows
                except TimeoutError as err:
                    raise _cancelled(limit) from err
    except BaseException as err:
        failure = err
        raise
    finally:
        _report(question, sql, t0, total, failure)


async def copy_csv(
    db: Db,
    question: str,
    sql: str,
    *args: object,
    columns: Sequence[str],
    limit_s: float | None = None,
) -> AsyncIterator[bytes]:
    """The rows of one read statement as CSV text written by the server itself
    (``COPY (sql) TO STDOUT (FORMAT csv, HEADER)``), in chunks as they arrive: no row
    becomes a Python object, and memory holds at most :data:`COPY_QUEUE_CHUNKS` chunks
    (the server waits while the reader is behind). ``columns`` names the statement's
    columns, in order (the header line). The time limit covers the whole copy.

    Values are inlined by asyncpg with the server's ``quote_literal`` (COPY takes no
    parameters), never by string formatting here.
    """
    limit = _limit(limit_s)
    named = f"SELECT * FROM ({sql}) AS x({', '.join(_ident(c) for c in columns)})"
    queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue(COPY_QUEUE_CHUNKS)

    async def output(data: bytes) -> None:
        await queue.put(bytes(data))

    async def produce() -> None:
        try:
            with _classified(question):
                async with _db.acquire(db, step=f"read {question}: connecting") as conn:
                    try:
                        await conn.copy_from_query(
                            named, *args, output=output, format="csv", header=True,
                            timeout=limit,
                        )  # fmt: skip
                    except TimeoutError as err:
                        raise _cancelled(limit) from err
        except Exception as err:  # handed to the reader, who raises it
            await queue.put(err)
        else:
            await queue.put(None)

    t0 = time.perf_counter()
    failure: BaseException | None = None
    task = asyncio.create_task(produce())
    try:
        while (item := await queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    except BaseException as err:
        failure = err
        raise
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        _report(question, sql, t0, 0, failure)


def _ident(name: str) -> str:
    if not name.isidentifier() or not name.isascii():
        raise ValueError(f"invalid column name {name!r}")  # a programming error
    return f'"{name}"'
