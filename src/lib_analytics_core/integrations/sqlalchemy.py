"""``DatabaseQuery`` events from SQLAlchemy engine events (sync and async engines).

::

    uninstall = instrument_engine(engine, client)      # Engine or AsyncEngine

``before_cursor_execute`` notes the start on the connection, ``after_cursor_execute``
records the query with its ``rowcount`` (when the driver reports one), ``handle_error``
records a failed query (``success=False``). ``query_type`` is the statement's first
keyword; parameters are never recorded. ``executemany`` batches are one event.

Sampling is configured once for the client, ``sample_rates={"database_query": r}``, so
the rate is stored with every kept event. Statements naming the analytics tables are
skipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ..events.catalog import DatabaseQuery
from ..schema.facts import DEAD_LETTER_TABLE, EVENTS_TABLE
from ._common import SafeTracker
from ._sql import classify, mentions

if TYPE_CHECKING:
    from ..ingest.client import AnalyticsClient

__all__ = ["instrument_engine"]

_START_KEY = "lib_analytics_core.query_start"
_perf_ns = time.perf_counter_ns


def instrument_engine(
    engine: Any,
    client: AnalyticsClient,
    *,
    service: str | None = None,
    ignore_tables: Iterable[str] = (),
) -> Callable[[], None]:
    """Record a ``DatabaseQuery`` for each statement ``engine`` executes.

    Accepts an ``Engine`` or an ``AsyncEngine`` (its ``sync_engine`` carries the events).
    Returns a function removing the listeners again.
    """
    from sqlalchemy import event  # noqa: PLC0415 - optional dependency, imported when used

    target = getattr(engine, "sync_engine", engine)
    tracker = SafeTracker(client)
    svc = service or client.config.service_name
    ignore = (EVENTS_TABLE, DEAD_LETTER_TABLE, *ignore_tables)

    def before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        conn.info.setdefault(_START_KEY, []).append(_perf_ns())

    def record(conn: Any, statement: str, rows: int | None, success: bool) -> None:
        try:
            stack = conn.info.get(_START_KEY)
            if not stack:
                return
            start = stack.pop()
            if mentions(statement, ignore):
                return
            kind, table = classify(statement)
            tracker.track(
                DatabaseQuery(
                    service=svc,
                    query_type=kind,
                    duration_ms=(_perf_ns() - start) // 1_000_000,
                    table=table,
                    rows=rows,
                    success=success,
                )
            )
        except Exception:  # tracking must never break the caller
            tracker.failed("could not build the DatabaseQuery event")

    def after(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        rowcount = getattr(cursor, "rowcount", -1)
        rows = rowcount if isinstance(rowcount, int) and rowcount >= 0 else None
        record(conn, statement, rows, True)

    def on_error(context: Any) -> None:
        conn = context.connection
        statement = context.statement
        if conn is not None and isinstance(statement, str):
            record(conn, statement, None, False)

    event.listen(target, "before_cursor_execute", before)
    event.listen(target, "after_cursor_execute", after)
    event.listen(target, "handle_error", on_error)

    def uninstall() -> None:
        event.remove(target, "before_cursor_execute", before)
        event.remove(target, "after_cursor_execute", after)
        event.remove(target, "handle_error", on_error)

    return uninstall
