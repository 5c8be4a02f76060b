"""One ``analytics-demo`` at a time per database: the claim a run holds while it writes.

Two demos started at once into one empty database both passed the "already holds
events" check and doubled every count (issue 29). A run now first takes a transaction
advisory lock on a connection of its own and keeps that transaction open until it is
done; the check comes after the claim, so of two runs the second either finds the lock
taken (it refuses at once) or, once the first is done, finds its events (it refuses
too). A transaction lock, not a session one: behind a transaction-mode pooler the open
transaction keeps its server session, a session lock would not (``_connect``). A run
that dies drops its connection, and the server releases the lock with it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any, Final

from .._connect import connect
from .._errors import AnalyticsError

__all__ = ["DEMO_LOCK_KEY", "DemoBusyError", "demo_claim"]

#: The advisory-lock key of a demo run (beside ``schema.facts``' migration and
#: maintenance keys, 7236912001/2, in the same family).
DEMO_LOCK_KEY: Final = 7236912009


class DemoBusyError(AnalyticsError):
    """Another ``analytics-demo`` is writing into the same database right now."""


@contextlib.asynccontextmanager
async def demo_claim(url: str) -> AsyncIterator[None]:
    """Hold the database's demo claim for the block; :class:`DemoBusyError` if taken."""
    conn: Any = await connect(url)
    try:
        await conn.execute("BEGIN")
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", DEMO_LOCK_KEY):
            raise DemoBusyError(
                "another analytics-demo is writing into this database right now; wait for "
                "it to finish (its events are then in the database), or name another one"
            )
        yield
    finally:
        with contextlib.suppress(Exception):
            await conn.close(timeout=5)
        if not conn.is_closed():
            conn.terminate()
