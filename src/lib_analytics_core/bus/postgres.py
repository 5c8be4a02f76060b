"""The ingest service's PostgreSQL pool: the worker's own ``PostgresSink`` writes over it.

``analytics-ingest`` writes with exactly the code the direct path uses (the sink
``ingest.pipeline`` builds for ``transport=None``), over a pool of its own sized for
its pull loops.

What the sink guarantees, and the ingest service relies on: binary COPY on a
first delivery, ``INSERT ... ON CONFLICT DO NOTHING`` on ``("timestamp", event_id)``
for a redelivery (or when COPY meets rows already stored), and bisection of a batch
with refused values so only the refused rows are dead-lettered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from .._config import AnalyticsConfig
from .._connect import create_pool
from .._errors import DatabaseUnavailableError

__all__ = ["ingest_pool"]


def ingest_pool(
    database_url: str, settings: AnalyticsConfig, *, pool_size: int
) -> Callable[[], Awaitable[asyncpg.Pool[Any]]]:
    """The pool factory ``analytics-ingest``'s sink opens lazily: one connection per
    pull loop."""

    async def pool() -> asyncpg.Pool[Any]:
        try:
            return await create_pool(
                database_url,
                min_size=0,
                max_size=pool_size,
                command_timeout=settings.write_timeout_secs,
                settings={"application_name": "lib-analytics-core ingest"},
            )
        except Exception as err:
            raise DatabaseUnavailableError(
                f"cannot open a pool to the database: {type(err).__name__}"
            ) from err

    return pool
