"""Erasing one user's raw events (``forget_user``), on every server kind.

What is erased: every row of ``analytics_events`` whose ``user_id`` is the user, and
every dead letter whose payload mentions the user's id (dead letters have no
``user_id`` column; their payload is the refused JSON, which carries it). Everything
happens in one transaction: either all of the user's rows go, or none do.

What stays: aggregates keep counts per day/hour/endpoint, not events, so they stay.
(``analytics_daily_active_users`` keeps one row per day and user; it is rebuilt from
raw events, so it loses the user on its next refresh of the affected days.)

TimescaleDB compressed chunks: TimescaleDB 2.11+ executes ``DELETE`` on compressed
chunks itself (decompressing only the affected segments). Its per-transaction
decompression limit is lifted for this transaction, since erasure must not stop half
way. On older versions the ``DELETE`` fails with "feature not supported"; we then
decompress just the compressed chunks that contain the user, delete, and compress them
again - all in the same transaction.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from .._errors import ConfigurationError, DatabaseError, DatabaseUnavailableError

__all__ = ["forget_user"]

logger = logging.getLogger("lib_analytics_core")

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")


def _quote(ident: str) -> str:
    if not _IDENT.match(ident):
        raise ConfigurationError(f"invalid SQL identifier {ident!r}")
    return '"' + ident + '"'


def _as_uuid(user_id: uuid.UUID | str) -> uuid.UUID:
    if isinstance(user_id, uuid.UUID):
        return user_id
    try:
        return uuid.UUID(str(user_id))
    except ValueError:
        raise ConfigurationError(f"user_id must be a UUID, got {user_id!r}") from None


async def forget_user(
    pool_or_conn: asyncpg.Pool[Any] | asyncpg.Connection[Any] | str,
    user_id: uuid.UUID | str,
    *,
    schema: str = "public",
    table: str = "analytics_events",
    dead_letter_table: str = "analytics_dead_letters",
) -> int:
    """Delete every raw event of ``user_id``; returns the number of rows removed.

    ``pool_or_conn`` is an asyncpg pool, a connection, or a DSN. The count includes
    dead letters that mentioned the user and the user's rows in
    ``analytics_daily_active_users`` (the only aggregate keyed by user). Safe to
    repeat (the second call returns 0).
    Events of the user still queued in a running client are written afterwards: call it
    once the user can no longer produce events, or again after the next flush.
    """
    target = _Target(
        uid=_as_uuid(user_id),
        schema=schema,
        table=table,
        events=f"{_quote(schema)}.{_quote(table)}",
        dead=f"{_quote(schema)}.{_quote(dead_letter_table)}",
    )
    try:
        if isinstance(pool_or_conn, str):
            conn = await asyncpg.connect(pool_or_conn)
            try:
                removed = await _forget(conn, target)
            finally:
                await conn.close()
        elif isinstance(pool_or_conn, asyncpg.Pool):
            async with pool_or_conn.acquire() as pooled:
                removed = await _forget(pooled, target)
        else:
            removed = await _forget(pool_or_conn, target)
    except (OSError, asyncpg.exceptions.ConnectionDoesNotExistError) as err:
        raise DatabaseUnavailableError(f"forget_user: database unreachable: {err}") from err
    except asyncpg.PostgresError as err:
        raise DatabaseError(f"forget_user failed: {err}") from err
    logger.info("forget_user: removed %d rows", removed)
    return removed


@dataclass(frozen=True, slots=True)
class _Target:
    uid: uuid.UUID
    schema: str
    table: str
    events: str  # quoted, schema-qualified
    dead: str  # quoted, schema-qualified


async def _forget(conn: Any, target: _Target) -> int:
    uid, events, dead = target.uid, target.events, target.dead
    async with conn.transaction():
        timescale = await conn.fetchval(
            "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
        )
        if timescale is not None:
            await _lift_decompression_limit(conn)
            removed = await _delete_events_timescale(conn, target)
        else:
            removed = _count(await conn.execute(f"DELETE FROM {events} WHERE user_id = $1", uid))
        if await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", dead):
            removed += _count(
                await conn.execute(f"DELETE FROM {dead} WHERE strpos(payload, $1) > 0", str(uid))
            )
        removed += await _delete_from_active_users(conn, target, timescale is not None)
    return removed


async def _delete_from_active_users(conn: Any, target: _Target, timescale: bool) -> int:
    """Remove the user from ``analytics_daily_active_users``, the one aggregate that keeps
    user ids (it must, for exact WAU/MAU). Every other aggregate holds only counts.

    On TimescaleDB it is a continuous aggregate, so the rows are deleted from its
    materialisation hypertable; a later refresh recomputes from raw rows, which no
    longer hold the user, so the user does not come back.
    """
    relation = f"{_quote(target.schema)}.{_quote('analytics_daily_active_users')}"
    if timescale:
        row = await conn.fetchrow(
            "SELECT materialization_hypertable_schema AS s, materialization_hypertable_name AS n "
            "FROM timescaledb_information.continuous_aggregates "
            "WHERE view_schema = $1 AND view_name = 'analytics_daily_active_users'",
            target.schema,
        )
        if row is not None:
            relation = f"{_quote(row['s'])}.{_quote(row['n'])}"
        elif not await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", relation):
            return 0
    elif not await conn.fetchval(
        "SELECT to_regclass($1) IS NOT NULL AND (SELECT relkind FROM pg_class "
        "WHERE oid = to_regclass($1)) IN ('r', 'p')",
        relation,
    ):
        return 0
    return _count(await conn.execute(f"DELETE FROM {relation} WHERE user_id = $1", target.uid))


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


async def _delete_events_timescale(conn: Any, target: _Target) -> int:
    uid = target.uid
    delete = f"DELETE FROM {target.events} WHERE user_id = $1"
    try:
        async with conn.transaction():
            return _count(await conn.execute(delete, uid))
    except asyncpg.FeatureNotSupportedError:
        logger.info("forget_user: DELETE on compressed chunks unsupported; decompressing")
    chunks = await conn.fetch(
        """
        SELECT format('%I.%I', chunk_schema, chunk_name) AS chunk
        FROM timescaledb_information.chunks
        WHERE hypertable_schema = $1 AND hypertable_name = $2 AND is_compressed
        """,
        target.schema,
        target.table,
    )
    recompress: list[str] = []
    for row in chunks:
        chunk = row["chunk"]
        # ``chunk`` comes from format('%I.%I'): already a safely quoted identifier.
        if await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {chunk} WHERE user_id = $1)", uid):
            await conn.execute("SELECT decompress_chunk($1::regclass)", chunk)
            recompress.append(chunk)
    removed = _count(await conn.execute(delete, uid))
    for chunk in recompress:
        await conn.execute("SELECT compress_chunk($1::regclass)", chunk)
    return removed
