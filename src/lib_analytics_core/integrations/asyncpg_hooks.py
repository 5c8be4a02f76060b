"""``DatabaseQuery`` events from asyncpg's query logger (asyncpg >= 0.29).

One connection::

    query_logger = install_query_logger(conn, client)

Every connection of a pool (the pool's ``init`` runs on each new connection)::

    pool = await asyncpg.create_pool(dsn, init=query_logger_init(client))

asyncpg measures each query itself (``LoggedQuery.elapsed``) and calls the logger from
the event loop after the query finished, so the hook adds no awaits to the query path.
``query_type`` comes from the statement's first keyword, ``table`` is a best-effort
guess, ``success`` is False when the query raised; arguments are never recorded.

Sampling: database queries are the highest-volume events; keep a fraction with
``AnalyticsConfig(sample_rates={"database_query": 0.05})``. The worker applies it and
stores the rate with every kept event, so counts scale back correctly.

asyncpg's pool-release reset query is skipped. Queries naming the analytics tables are
skipped too, so a logger installed on the pool the
worker also writes through cannot feed on its own writes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any

import asyncpg

from ..events.catalog import DatabaseQuery
from ..schema.facts import DEAD_LETTER_TABLE, EVENTS_TABLE
from ._common import SafeTracker
from ._sql import classify, mentions

if TYPE_CHECKING:
    from ..ingest.client import AnalyticsClient

__all__ = ["AsyncpgQueryLogger", "install_query_logger", "query_logger_init"]


#: asyncpg's own pool-release reset (``Connection.get_reset_query``): infrastructure, not
#: an application query, and one per pool checkout would double the recorded volume.
_POOL_RESET_PREFIXES = (
    "SELECT pg_advisory_unlock_all();",
    "CLOSE ALL;",
    "UNLISTEN *;",
    "RESET ALL;",
)


def _own_tables(client: AnalyticsClient, extra: Iterable[str]) -> tuple[str, ...]:
    return (EVENTS_TABLE, DEAD_LETTER_TABLE, *extra)


class AsyncpgQueryLogger:
    """The callable given to ``Connection.add_query_logger``."""

    __slots__ = ("_ignore", "_service", "_tracker")

    def __init__(
        self,
        client: AnalyticsClient,
        *,
        service: str | None = None,
        ignore_tables: Iterable[str] = (),
    ) -> None:
        self._tracker = SafeTracker(client)
        self._service = service or client.config.service_name
        self._ignore = _own_tables(client, ignore_tables)

    def __call__(self, record: Any) -> None:
        try:
            query = record.query
            if (
                not isinstance(query, str)
                or query.startswith(_POOL_RESET_PREFIXES)
                or mentions(query, self._ignore)
            ):
                return
            kind, table = classify(query)
            self._tracker.track(
                DatabaseQuery(
                    service=self._service,
                    query_type=kind,
                    duration_ms=int(record.elapsed * 1000),
                    table=table,
                    success=record.exception is None,
                )
            )
        except Exception:  # tracking must never break the caller
            self._tracker.failed("could not build the DatabaseQuery event")


def install_query_logger(
    conn: asyncpg.Connection[Any],
    client: AnalyticsClient,
    *,
    service: str | None = None,
    ignore_tables: Iterable[str] = (),
) -> AsyncpgQueryLogger:
    """Add a logger to one asyncpg connection; returns it (for ``remove_query_logger``)."""
    query_logger = AsyncpgQueryLogger(client, service=service, ignore_tables=ignore_tables)
    conn.add_query_logger(query_logger)
    return query_logger


def query_logger_init(
    client: AnalyticsClient,
    *,
    service: str | None = None,
    ignore_tables: Iterable[str] = (),
    then: Callable[[asyncpg.Connection[Any]], Awaitable[None]] | None = None,
) -> Callable[[asyncpg.Connection[Any]], Coroutine[Any, Any, None]]:
    """An ``init=`` callback for ``asyncpg.create_pool`` installing the logger.

    ``then`` is your own init callback, if the pool already had one.
    """
    query_logger = AsyncpgQueryLogger(client, service=service, ignore_tables=ignore_tables)

    async def init(conn: asyncpg.Connection[Any]) -> None:
        conn.add_query_logger(query_logger)
        if then is not None:
            await then(conn)

    return init
