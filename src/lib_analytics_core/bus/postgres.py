"""The ingest service's PostgreSQL sink: the worker's own :class:`PostgresSink`.

``analytics-ingest`` writes with exactly the code the direct path uses, over a pool of
its own sized for its pull loops.

What the sink guarantees, and the ingest service relies on: binary COPY on a
first delivery, ``INSERT ... ON CONFLICT DO NOTHING`` on ``("timestamp", event_id)``
for a redelivery (or when COPY meets rows already stored), and bisection of a batch
with refused values so only the refused rows are dead-lettered.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from .._config import AnalyticsConfig
from .._connect import create_pool
from .._errors import DatabaseUnavailableError
from ..ingest.sinks.base import Sink
from ..ingest.sinks.postgres import PostgresSink

__all__ = ["postgres_sink"]


def postgres_sink(database_url: str, settings: AnalyticsConfig, *, pool_size: int) -> Sink:
    """The sink ``analytics-ingest`` writes through: one connection per pull loop."""

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

    return PostgresSink(settings, pool)
