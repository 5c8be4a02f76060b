"""One maintainer per database, elected among the processes the user already runs.

Without it, the partitioned tier's aggregates (and the timescale tier's, where
TimescaleDB's scheduler is off or failing) stay where the last ``analytics-migrate
maintain`` left them: a new deployment shows zeros until someone adds a cron job. The
long-running processes (the worker, ``analytics-api``, ``analytics-collect``,
``analytics-ingest``) each run a :class:`Maintainer`; every ``refresh_every`` each
asks, in one statement, for the lease row of migration 0014
(``analytics_maintainer_lease``). The process whose lease has not expired keeps it and
does the work; the others only ask again next tick. The holder:

* runs :func:`~.maintenance_recent.refresh_recent` every tick (the days that received
  rows since the last refresh), so a tracked event is in every answer within
  ``refresh_every`` plus the worker's flush interval (well under a minute by default);
* runs the whole :func:`~.maintenance.maintain` pass (partitions, retention,
  compression, the 3-day window, late rows) every ``maintain_every``, and on its first
  tick as holder;
* records what it did and its last error on the lease row (``/v1/health``,
  ``analytics-migrate status``).

Why a lease row and not an advisory lock: behind a transaction-mode pooler (PgBouncer)
a session advisory lock stays on whichever server connection took it, held by no one;
a lease is one ``INSERT ... ON CONFLICT`` per tick, on any connection, and a holder that
died (killed, partitioned away) loses it ``lease_ttl`` after its last renewal, judged by
the database's clock, not the hosts'. Two holders can only overlap if a pass outlives
the lease; the maintenance advisory lock still serialises their work, so the cost of
that is waiting, never wrong numbers.

A process competes only where maintaining can work: never on a standby
(``pg_is_in_recovery()``: the API is often pointed at a streaming replica; the
primary's maintainer keeps it current through replication), never before migration
0014, and only when its login owns the events table (the API's ``analytics_reader``
login does not, so it never competes there). Off switches: ``ANALYTICS_MAINTAINER=off``
in the environment (wins), ``AnalyticsConfig(maintainer=False)``, ``--no-maintain`` on
the command lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import enum
import logging
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, TypeAlias

import asyncpg

from .._connect import connect
from .._db import CONNECT_TIMEOUT, DRIVER_ERRORS, acquire
from .._errors import AnalyticsError, ConfigurationError
from .facts import EVENTS_TABLE, MAINTAINER_LEASE_NAME, MAINTAINER_LEASE_TABLE
from .maintenance import maintain
from .maintenance_recent import refresh_recent

__all__ = [
    "MAINTAINER_ENV",
    "Maintainer",
    "MaintainerSchedule",
    "Role",
    "hosted_maintainer",
    "maintainer_enabled",
]

logger = logging.getLogger("lib_analytics_core.maintainer")

MAINTAINER_ENV = "ANALYTICS_MAINTAINER"
"""``off`` (or ``0``/``false``/``no``) keeps every process of this host from maintaining."""

Source: TypeAlias = "str | asyncpg.Pool[Any]"
"""A DSN (the maintainer keeps one connection of its own) or a pool it borrows from."""


def maintainer_enabled(flag: bool = True, environ: Mapping[str, str] | None = None) -> bool:
    """Whether this process may compete: ``flag`` (config or command line), unless the
    environment says ``ANALYTICS_MAINTAINER=off``, which wins (an operator turns every
    process of a deployment off without touching code)."""
    raw = (os.environ if environ is None else environ).get(MAINTAINER_ENV, "").strip().lower()
    if raw in ("off", "0", "false", "no"):
        return False
    if raw and raw not in ("on", "1", "true", "yes", "auto"):
        raise ConfigurationError(f"{MAINTAINER_ENV}={raw!r}: expected on or off")
    return flag


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class MaintainerSchedule:
    """When the maintainer works (seconds). Tests shorten it; the defaults keep a new
    event's delay under a minute at a cost ``benchmarks/bench_freshness.py`` measures."""

    refresh_every: float = 15.0
    """Between ticks: claim or renew the lease, refresh what new rows changed."""
    maintain_every: float = 600.0
    """Between whole ``maintain()`` passes (partitions, retention, compression)."""
    lease_ttl: float = 60.0
    """How long a lease outlives its holder's last renewal (the failover delay)."""
    max_busy: float = 0.25
    """The share of the time the holder may spend working. Recomputing today costs what
    today holds (3 s at 25,000 events of the day here, ``benchmarks/results-freshness.log``),
    so at a large daily volume back-to-back 15 s ticks would keep a core of the database
    busy for ever. After a tick that took ``busy`` seconds the next waits
    ``busy * (1 / max_busy - 1)`` (never less than ``refresh_every``, never more than
    half the lease, which must be renewed in time): the numbers stay under a minute
    behind, and the upkeep under this share of a core wherever it can."""

    def __post_init__(self) -> None:
        if min(self.refresh_every, self.maintain_every, self.lease_ttl) <= 0:
            raise ConfigurationError("maintainer intervals must be positive")
        if not 0 < self.max_busy <= 1:
            raise ConfigurationError("max_busy must be a share in (0, 1]")
        if self.lease_ttl <= self.refresh_every:
            raise ConfigurationError(
                "lease_ttl must be longer than refresh_every (or the holder loses its lease "
                "between two renewals)"
            )

    def delay_after(self, busy: float) -> float:
        """Seconds to wait after a tick that worked ``busy`` seconds (see ``max_busy``)."""
        paced = busy * (1 / self.max_busy - 1)
        return max(self.refresh_every, min(paced, self.lease_ttl / 2))


class Role(enum.Enum):
    """What one tick found this process to be."""

    HOLDER = "holder"
    """It holds the lease and did the work."""
    FOLLOWER = "follower"
    """Another process holds the lease."""
    STANDBY = "standby"
    """The database is a standby (read replica): nothing may be written."""
    NOT_OWNER = "not_owner"
    """Its login does not own the schema (a reader): it cannot maintain."""
    NOT_MIGRATED = "not_migrated"
    """No lease table yet (``analytics-migrate`` has not run 0014)."""
    FAILED = "failed"
    """The database could not be asked, or the work failed (``last_error``)."""


_PROBE = f"""
SELECT pg_is_in_recovery() AS standby,
       to_regclass('{MAINTAINER_LEASE_TABLE}') IS NOT NULL AS migrated,
       coalesce(pg_has_role(current_user,
           (SELECT relowner FROM pg_class WHERE oid = to_regclass('{EVENTS_TABLE}')),
           'USAGE'), false) AS owner
"""
_CLAIM = f"""
INSERT INTO {MAINTAINER_LEASE_TABLE} AS l (name, holder, acquired_at, expires_at)
VALUES ($1, $2, now(), now() + $3::interval)
ON CONFLICT (name) DO UPDATE
    SET holder = excluded.holder,
        expires_at = excluded.expires_at,
        acquired_at = CASE WHEN l.holder = excluded.holder THEN l.acquired_at ELSE now() END
    WHERE l.holder = excluded.holder OR l.expires_at < now()
RETURNING holder
"""
_RECORD = f"""
UPDATE {MAINTAINER_LEASE_TABLE}
SET expires_at = now() + $3::interval,
    last_refresh_at = CASE WHEN $4 THEN now() ELSE last_refresh_at END,
    last_maintain_at = CASE WHEN $5 THEN now() ELSE last_maintain_at END,
    last_error = $6,
    last_error_at = CASE WHEN $6::text IS NULL THEN last_error_at ELSE now() END
WHERE name = $1 AND holder = $2
"""
_RELEASE = f"UPDATE {MAINTAINER_LEASE_TABLE} SET expires_at = now() WHERE name = $1 AND holder = $2"


class Maintainer:
    """Competes for the lease and, while holding it, keeps the aggregates current.

    ``source`` is a DSN (one connection of its own, kept open and reopened after a
    failure) or an ``asyncpg.Pool`` (one connection borrowed per tick, e.g. the
    worker's, where the server takes one connection at a time). ``host`` names the kind
    of process in the lease row (``worker``, ``api``, ...). ``sleep`` replaces
    ``asyncio.sleep`` between ticks (tests).
    """

    def __init__(
        self,
        source: Source,
        *,
        host: str = "process",
        schedule: MaintainerSchedule | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self._source = source
        self.schedule = schedule or MaintainerSchedule()
        self.holder_id = f"{host}@{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._sleep = sleep or asyncio.sleep
        self._conn: asyncpg.Connection[Any] | None = None
        self._last_pass: float | None = None
        self._held = False  # claimed the lease at least once since the last release
        self.role: Role | None = None
        """What the last tick found (None before the first)."""
        self.last_error: str | None = None
        self.ticks = 0
        self.refreshes = 0
        self.passes = 0

    async def tick(self) -> Role:
        """One round: ask whether this process may and should maintain, claim or renew
        the lease, do the due work and record it. Never raises for a database problem
        (the role is ``FAILED`` and ``last_error`` says why); the loop goes on."""
        self.ticks += 1
        try:
            async with self._connection() as conn:
                role = await self._tick(conn)
        except (AnalyticsError, *DRIVER_ERRORS) as err:
            role = self._failed(err)
        if role is not self.role:
            self._announce(role)
        self.role = role
        return role

    async def run(self) -> None:
        """Tick every ``refresh_every`` (longer after a long tick: ``max_busy``) until
        cancelled; then give the lease back (so
        another process takes over at its next tick, not after ``lease_ttl``)."""
        try:
            while True:
                started = time.monotonic()
                try:
                    await self.tick()
                except Exception as err:  # a bug must not end the hosting process's upkeep
                    logger.exception("analytics maintainer: unexpected error; carrying on")
                    self._failed(err)
                await self._sleep(self.schedule.delay_after(time.monotonic() - started))
        finally:
            await asyncio.shield(self.close())

    async def close(self) -> None:
        """Release the lease (if held) and close the own connection; best effort."""
        if self._held:
            self._held = False
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5), self._connection() as conn:
                    await conn.execute(_RELEASE, MAINTAINER_LEASE_NAME, self.holder_id)
            self.role = None
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close(timeout=5)
            if not conn.is_closed():
                conn.terminate()

    # ------------------------------------------------------------------ internals

    @contextlib.asynccontextmanager
    async def _connection(self) -> Any:
        if not isinstance(self._source, str):
            async with acquire(self._source, step="maintainer: connecting") as pooled:
                yield pooled
            return
        if self._conn is None or self._conn.is_closed():
            # Through _connect: behind a transaction-mode pooler it drops the statement
            # cache and keeps only the startup parameters the pooler forwards.
            self._conn = await connect(
                self._source,
                timeout=CONNECT_TIMEOUT,
                settings={"application_name": "lib-analytics-core maintainer"},
            )
        try:
            yield self._conn
        except BaseException:
            conn, self._conn = self._conn, None  # a failed session is not reused
            if conn is not None:
                conn.terminate()
            raise

    async def _tick(self, conn: asyncpg.Connection[Any]) -> Role:
        probe = await conn.fetchrow(_PROBE)
        assert probe is not None
        if probe["standby"]:
            return Role.STANDBY
        if not probe["migrated"]:
            return Role.NOT_MIGRATED
        if not probe["owner"]:
            return Role.NOT_OWNER
        ttl = _interval(self.schedule.lease_ttl)
        if await conn.fetchval(_CLAIM, MAINTAINER_LEASE_NAME, self.holder_id, ttl) is None:
            self._last_pass = None  # a new term starts with a whole pass
            return Role.FOLLOWER
        self._held = True
        whole = self._last_pass is None or (
            time.monotonic() - self._last_pass >= self.schedule.maintain_every
        )
        error: str | None = None
        try:
            if whole:
                await maintain(conn)
                self._last_pass = time.monotonic()
                self.passes += 1
            else:
                await refresh_recent(conn)
            self.refreshes += 1
        except AnalyticsError as err:
            error = str(err)[:1000]
        # Renew with the outcome (the work may have taken a while).
        done = error is None
        await conn.execute(
            _RECORD, MAINTAINER_LEASE_NAME, self.holder_id, ttl, done, whole and done, error
        )
        if error is not None:
            self.last_error = error
            logger.warning("analytics maintainer: the aggregates' refresh failed: %s", error)
            return Role.FAILED
        self.last_error = None
        return Role.HOLDER

    def _failed(self, err: BaseException) -> Role:
        self.last_error = f"{type(err).__name__}: {err}"[:1000]
        logger.warning("analytics maintainer: %s", self.last_error)
        return Role.FAILED

    def _announce(self, role: Role) -> None:
        text = {
            Role.HOLDER: "this process maintains the database's aggregates",
            Role.FOLLOWER: "another process maintains the database's aggregates",
            Role.STANDBY: "the database is a standby: not maintaining (its primary does)",
            Role.NOT_OWNER: "this login does not own the analytics schema: not maintaining",
            Role.NOT_MIGRATED: "the analytics schema is not migrated (run analytics-migrate): "
            "not maintaining yet",
            Role.FAILED: "maintenance failed; retrying next tick",
        }[role]
        logger.info("analytics maintainer (%s): %s", self.holder_id, text)


@contextlib.asynccontextmanager
async def hosted_maintainer(
    source: Source | None,
    *,
    host: str,
    enabled: bool = True,
    schedule: MaintainerSchedule | None = None,
) -> AsyncIterator[Maintainer | None]:
    """Run a :class:`Maintainer` in the background for the block (what every hosting
    process does); yields it, or None when ``enabled`` is False, the environment turns
    it off or there is no database. Leaving the block gives the lease back."""
    if source is None or not maintainer_enabled(enabled):
        yield None
        return
    maintainer = Maintainer(source, host=host, schedule=schedule)
    task = asyncio.create_task(maintainer.run(), name=f"analytics-maintainer-{host}")
    try:
        yield maintainer
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


def _interval(seconds: float) -> dt.timedelta:
    return dt.timedelta(seconds=seconds)
