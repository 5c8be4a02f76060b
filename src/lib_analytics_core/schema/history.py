"""The migration history table: reading it, checking it, and applying one migration.

``analytics_schema_migrations`` holds one row per applied migration (version, name,
phase, checksum of the rendered file, tier, duration). :mod:`.migrate` decides *what*
to run; this module owns *how* a migration is recorded and applied, and the rules the
history enforces: applied files never change, the tier is the recorded one, a phase
runs only after the earlier phases' migrations. Every driver error here becomes a
:class:`~lib_analytics_core.MigrationError` naming the step.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import asyncpg

from .._db import translate
from .._errors import ChecksumMismatchError, ErrorKind, MigrationError
from .facts import HISTORY_TABLE
from .server import SchemaTier, ServerInfo, TierChoice, choose_tier, detect_server, requested_tier
from .timescale import DEFAULT_RETRY, RefreshRetry

if TYPE_CHECKING:
    from .migrate import Migration, Phase

__all__ = [
    "CREATE_HISTORY",
    "LOCK_TIMEOUT",
    "Applied",
    "apply_migration",
    "check_checksums",
    "inspect",
    "mark_filled",
    "read_history",
    "select",
    "tier_for",
]

logger = logging.getLogger("lib_analytics_core.migrate")


@dataclasses.dataclass(frozen=True, slots=True)
class Applied:
    version: int
    name: str
    checksum: str
    applied_at: dt.datetime
    tier: str
    pending: tuple[str, ...] = ()
    """Continuous aggregates the migration created that are not filled yet: the refresh
    after its commit failed (or has not run); the next ``migrate()`` does it."""


async def read_history(conn: asyncpg.Connection[Any]) -> dict[int, Applied] | None:
    exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", HISTORY_TABLE)
    if not exists:
        return None
    # A history table from before the ``pending`` column (added by the runner, below).
    has_pending = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1)"
        " AND attname = 'pending' AND NOT attisdropped)",
        HISTORY_TABLE,
    )
    pending = "pending" if has_pending else "'{}'::text[] AS pending"
    rows = await conn.fetch(
        f"SELECT version, name, checksum, applied_at, tier, {pending} FROM {HISTORY_TABLE}"
    )
    return {
        r["version"]: Applied(
            r["version"],
            r["name"],
            r["checksum"],
            r["applied_at"],
            r["tier"],
            tuple(r["pending"] or ()),
        )
        for r in rows
    }


def tier_for(
    server: ServerInfo, history: dict[int, Applied] | None, tier: str | None
) -> TierChoice:
    """The recorded tier if there is one (refusing an explicit request for the other),
    else the operator's choice applied to this server."""
    requested = requested_tier(tier)
    if history:
        recorded = SchemaTier(history[min(history)].tier)
        if requested not in ("auto", recorded.value):
            raise MigrationError(
                f"this database's analytics schema uses the {recorded.value} tier (recorded "
                f"in {HISTORY_TABLE}); the {requested} tier was requested. A schema cannot "
                "change tier in place: migrate a new database with the tier you want, or "
                f"drop the tier option to keep {recorded.value}"
            )
        if recorded is not server.kind.tier:
            logger.info(
                "schema uses the %s tier on a %s server; keeping %s",
                recorded.value,
                server.kind.value,
                recorded.value,
            )
        return TierChoice(recorded, requested, f"recorded in {HISTORY_TABLE}")
    return choose_tier(server, requested)


def check_checksums(migrations: Sequence[Migration], history: dict[int, Applied]) -> None:
    for mig in migrations:
        done = history.get(mig.version)
        if done is not None and done.checksum != mig.checksum:
            raise ChecksumMismatchError(
                f"migration {mig.name} was applied with checksum {done.checksum[:12]}... but "
                f"the shipped file now has {mig.checksum[:12]}...: applied migrations must "
                "never change; add a new migration instead"
            )


async def inspect(
    conn: asyncpg.Connection[Any],
) -> tuple[ServerInfo, dict[int, Applied] | None]:
    """The server and the history. Where no tier is recorded yet, detection probes the
    extension (see :func:`~.server.detect_server`): the tier choice depends on it."""
    with translate("detecting the server and reading the migration history", MigrationError):
        history = await read_history(conn)
        return await detect_server(conn, probe=not history), history


def select(migrations: Sequence[Migration], applied: set[int], phase: Phase) -> list[Migration]:
    pending = [m for m in migrations if m.version not in applied]
    if phase == "all":
        return pending
    chosen = [m for m in pending if m.phase == phase]
    if chosen:
        first = chosen[0].version
        blocking = [m for m in pending if m.phase != phase and m.version < first]
        if blocking:
            raise MigrationError(
                f"cannot run {phase}-deploy migration {chosen[0].name} before "
                f"{blocking[0].name}; run `analytics-migrate {blocking[0].phase}` first"
            )
    return chosen


CREATE_HISTORY = (
    f"""
CREATE TABLE IF NOT EXISTS {HISTORY_TABLE} (
    version     INT PRIMARY KEY,
    name        TEXT NOT NULL,
    phase       TEXT NOT NULL,
    checksum    TEXT NOT NULL,
    tier        TEXT NOT NULL,
    applied_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    duration_ms INT NOT NULL,
    pending     TEXT[] NOT NULL DEFAULT '{{}}'
)
""",
    # Tables created by releases before the column; rows they write keep the default.
    f"ALTER TABLE {HISTORY_TABLE} ADD COLUMN IF NOT EXISTS pending TEXT[] NOT NULL DEFAULT '{{}}'",
)
"""The runner's own table (not a migration: it records them). ``pending`` lists the
continuous aggregates a migration created that are not filled yet."""

LOCK_TIMEOUT = "10s"
"""``lock_timeout`` inside a migration's transaction: a statement that waits longer for
a lock (a policy job working on the relation it alters) gives up, the transaction rolls
back and is retried, instead of queueing every writer behind its lock request."""


async def apply_migration(
    conn: asyncpg.Connection[Any],
    mig: Migration,
    statements: list[str],
    tier: SchemaTier,
    *,
    pending: Sequence[str] = (),
    retry: RefreshRetry = DEFAULT_RETRY,
) -> None:
    """Run ``statements`` (the migration's SQL for ``tier``, split) and record it, in
    one transaction unless the file opts out; a failure rolls back and names the
    statement. A lock wait past :data:`LOCK_TIMEOUT` or a deadlock (the server's jobs
    touch the same relations) rolls the transaction back and retries it, bounded by
    ``retry``. ``pending``: aggregates to fill after the commit (recorded with it)."""
    delays = retry.delays() if not mig.no_transaction else []
    for attempt in range(len(delays) + 1):
        try:
            await _apply_once(conn, mig, statements, tier, pending)
            return
        except MigrationError as err:
            if err.kind is not ErrorKind.CONFLICT or attempt == len(delays):
                raise
            logger.info("migration %s: %s; retrying in %.2fs", mig.name, err, delays[attempt])
            await asyncio.sleep(delays[attempt])


async def _apply_once(
    conn: asyncpg.Connection[Any],
    mig: Migration,
    statements: list[str],
    tier: SchemaTier,
    pending: Sequence[str],
) -> None:
    logger.info(
        "applying migration %s (%s tier, %d statements)", mig.name, tier.value, len(statements)
    )
    started = dt.datetime.now(dt.UTC)
    tx = None if mig.no_transaction else conn.transaction()
    if tx is not None:
        with translate(f"migration {mig.name}: starting its transaction", MigrationError):
            await tx.start()
            await conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    try:
        for index, stmt in enumerate(statements, 1):
            code = [ln for ln in stmt.splitlines() if not ln.strip().startswith("--")]
            first = " ".join(" ".join(code).split())[:200]
            step = f"migration {mig.name} failed at statement {index}/{len(statements)} [{first}]"
            with translate(step, MigrationError, failed=""):
                await conn.execute(stmt)
        elapsed = int((dt.datetime.now(dt.UTC) - started).total_seconds() * 1000)
        with translate(f"migration {mig.name}: recording it in {HISTORY_TABLE}", MigrationError):
            await conn.execute(
                f"INSERT INTO {HISTORY_TABLE}"
                " (version, name, phase, checksum, tier, duration_ms, pending)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7)",
                mig.version,
                mig.name,
                mig.phase,
                mig.checksum,
                tier.value,
                elapsed,
                list(pending),
            )
    except BaseException:
        if tx is not None:
            try:
                await tx.rollback()
            except Exception as rollback_err:  # the original error matters more
                logger.debug("rollback of %s failed too: %r", mig.name, rollback_err)
        raise
    else:
        if tx is not None:
            with translate(f"migration {mig.name}: committing", MigrationError):
                await tx.commit()


async def mark_filled(conn: asyncpg.Connection[Any], version: int, name: str) -> None:
    """``name`` (an aggregate migration ``version`` created) is filled: off its list."""
    with translate(f"recording that {name} is filled in {HISTORY_TABLE}", MigrationError):
        await conn.execute(
            f"UPDATE {HISTORY_TABLE} SET pending = array_remove(pending, $2) WHERE version = $1",
            version,
            name,
        )
