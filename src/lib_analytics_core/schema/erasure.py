"""Erasing one user's raw events (``forget_user``), on every server kind.

What is erased: every row of ``analytics_events`` whose ``user_id`` is the user, and
every dead letter whose payload mentions the user's id (dead letters have no
``user_id`` column; their payload is the refused JSON, which carries it). Everything
happens in one transaction: either all of the user's rows go, or none do.

What stays: aggregates keep counts per day/hour/endpoint, not events, so they stay.
The two that keep user ids, ``analytics_daily_active_users`` (a row per day and user)
and ``analytics_weekly_active_users`` (per week and user, derived from the daily one,
migration 0020), lose the user's rows in the same transaction: exact readers of them
(retention with "any event") must not see the user in a rollup after the raw rows are
gone.

TimescaleDB compressed chunks: TimescaleDB 2.11+ executes ``DELETE`` on compressed
chunks itself, by decompressing the affected batches into row storage. Its
per-transaction decompression limit is lifted for this transaction, since erasure must
not stop half way. That leaves every touched chunk *partially* compressed (the user's
neighbours' rows sit uncompressed, and the compression policy never revisits a
compressed chunk): erasing one user from a month of chunks once more than doubled the
hypertable. So every chunk that was compressed before and is not fully compressed after
the ``DELETE`` is compressed again, in the same transaction. On versions without DML on
compressed chunks the ``DELETE`` fails with "feature not supported"; we then decompress
the compressed chunks that contain the user, delete, and compress them again.

The schema is the one in the connection's search path (where the migrations created
it); the tier recorded by the migrations decides which path runs.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import asyncpg

from .._db import Connectable, acquire, translate
from .._errors import ConfigurationError
from .facts import (
    DAILY_ACTIVE_USERS,
    DEAD_LETTER_TABLE,
    EVENTS_TABLE,
    WEEKLY_ACTIVE_USERS,
    quote_ident,
)
from .server import SchemaTier, recorded_tier
from .timescale import chunk_states, compress_chunks

__all__ = ["forget_user"]

logger = logging.getLogger("lib_analytics_core")


def _as_uuid(user_id: uuid.UUID | str) -> uuid.UUID:
    if isinstance(user_id, uuid.UUID):
        return user_id
    try:
        return uuid.UUID(str(user_id))
    except ValueError:
        raise ConfigurationError(f"user_id must be a UUID, got {user_id!r}") from None


async def forget_user(pool_or_conn: Connectable, user_id: uuid.UUID | str) -> int:
    """Delete every raw event of ``user_id``; returns the number of rows removed.

    ``pool_or_conn`` is an asyncpg pool, a connection, or a DSN. The count includes
    dead letters that mentioned the user and the user's rows in the per-user daily and
    weekly rollups (the only aggregates keyed by user). Safe to
    repeat (the second call returns 0). On the timescale tier the chunks it touched
    are fully compressed again before it returns.
    Events of the user still queued in a running client are written afterwards: call it
    once the user can no longer produce events, or again after the next flush.
    """
    uid = _as_uuid(user_id)
    async with acquire(pool_or_conn, step="forget_user: connecting") as conn:
        with translate("forget_user"):
            removed = await _forget(conn, uid)
    logger.info("forget_user: removed %d rows", removed)
    return removed


async def _forget(conn: Any, uid: uuid.UUID) -> int:
    events, dead = quote_ident(EVENTS_TABLE), quote_ident(DEAD_LETTER_TABLE)
    tier = await recorded_tier(conn)
    async with conn.transaction():
        if tier is SchemaTier.TIMESCALE:
            await _lift_decompression_limit(conn)
            removed = await _delete_events_timescale(conn, uid)
        else:
            removed = _count(await conn.execute(f"DELETE FROM {events} WHERE user_id = $1", uid))
        if await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", dead):
            removed += _count(
                await conn.execute(f"DELETE FROM {dead} WHERE strpos(payload, $1) > 0", str(uid))
            )
        for rollup in (DAILY_ACTIVE_USERS, WEEKLY_ACTIVE_USERS):
            removed += await _delete_from_rollup(conn, rollup, uid, tier is SchemaTier.TIMESCALE)
    return removed


async def _delete_from_rollup(conn: Any, name: str, uid: uuid.UUID, timescale: bool) -> int:
    """Remove the user from ``name``, a rollup that keeps user ids (it must, for exact
    WAU/MAU and retention). Every other aggregate holds only counts.

    On TimescaleDB it is a continuous aggregate, so the rows are deleted from its
    materialisation hypertable; a later refresh recomputes from its source (raw rows,
    or the daily rollup for the weekly one), which no longer holds the user, so the user
    does not come back. (Deleting from the daily one's rows is logged for the weekly one
    as a change: a reader takes those weeks from the days until it is refreshed.)
    """
    relation = quote_ident(name)
    if timescale:
        row = await conn.fetchrow(
            "SELECT materialization_hypertable_schema AS s, materialization_hypertable_name AS n "
            "FROM timescaledb_information.continuous_aggregates "
            "WHERE view_schema = current_schema() AND view_name = $1",
            name,
        )
        if row is not None:
            relation = f"{quote_ident(row['s'])}.{quote_ident(row['n'])}"
        elif not await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", relation):
            return 0
    elif not await conn.fetchval(
        "SELECT to_regclass($1) IS NOT NULL AND (SELECT relkind FROM pg_class "
        "WHERE oid = to_regclass($1)) IN ('r', 'p')",
        relation,
    ):
        return 0
    return _count(await conn.execute(f"DELETE FROM {relation} WHERE user_id = $1", uid))


def _count(status: str) -> int:
    """Rows affected, from a command tag such as ``DELETE 12``."""
    try:
        return int(status.rsplit(" ", 1)[-1])
    except ValueError:
        return 0


async def _lift_decompression_limit(conn: Any) -> None:
    """Allow this transaction's DELETE to decompress as many rows as it needs.

    TimescaleDB 2.13+ caps decompressed tuples per DML transaction (100,000 by
    default) and errors beyond it; older versions have no such setting, hence the
    savepoint.
    """
    try:
        async with conn.transaction():
            await conn.execute(
                "SELECT set_config('timescaledb.max_tuples_decompressed_per_dml_transaction',"
                " '0', true)"
            )
    except asyncpg.PostgresError:
        logger.debug("forget_user: no decompression limit setting on this TimescaleDB")


async def _delete_events_timescale(conn: Any, uid: uuid.UUID) -> int:
    """Delete the user's rows, then compress again every chunk the delete left partially
    compressed or decompressed (see the module docstring)."""
    was_compressed = {c.name for c in await chunk_states(conn) if c.compressed}
    delete = f"DELETE FROM {quote_ident(EVENTS_TABLE)} WHERE user_id = $1"
    try:
        async with conn.transaction():
            removed = _count(await conn.execute(delete, uid))
    except asyncpg.FeatureNotSupportedError:
        logger.info("forget_user: DELETE on compressed chunks unsupported; decompressing")
        for chunk in sorted(was_compressed):
            # ``chunk`` comes from format('%I.%I'): already a safely quoted identifier.
            found = f"SELECT EXISTS (SELECT 1 FROM {chunk} WHERE user_id = $1)"
            if await conn.fetchval(found, uid):
                await conn.execute("SELECT decompress_chunk($1::regclass)", chunk)
        removed = _count(await conn.execute(delete, uid))
    recompressed = await compress_chunks(conn, only=was_compressed)
    if recompressed:
        logger.info("forget_user: compressed %d touched chunks again", len(recompressed))
    return removed
