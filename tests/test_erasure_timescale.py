"""forget_user on the TimescaleDB tier, with the user's rows inside a compressed chunk.

Runs on the PGlite + TimescaleDB test server with the real migrations (hypertable with
the production compression settings). The server takes one connection at a time, so
everything here uses a single connection.
"""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg
import pytest

from lib_analytics_core import (
    ServerKind,
    detect_server_kind,
    forget_user,
    migrate,
    refresh_aggregates,
)

pytestmark = pytest.mark.timescale

ALICE = uuid.UUID("0190a0b0-0000-7000-8000-00000000a11c")
BOB = uuid.UUID("0190a0b0-0000-7000-8000-000000000b0b")


async def test_forget_user_deletes_rows_inside_a_compressed_chunk(timescale_url: str) -> None:
    conn = await asyncpg.connect(timescale_url, timeout=60, command_timeout=120)
    try:
        await migrate(conn)
        assert await detect_server_kind(conn) is ServerKind.TIMESCALEDB
        old = dt.datetime(2026, 1, 10, 12, tzinfo=dt.UTC)  # a chunk we compress
        new = dt.datetime(2026, 2, 20, 12, tzinfo=dt.UTC)  # an uncompressed chunk
        rows = [
            (old + dt.timedelta(minutes=i), uuid.uuid4(), kind, "svc", user, "{}")
            for i in range(40)
            for user, kind in ((ALICE, "task_created"), (BOB, "task_created"))
        ] + [
            (new + dt.timedelta(minutes=i), uuid.uuid4(), "project_created", "svc", user, "{}")
            for i in range(10)
            for user in (ALICE, BOB)
        ]
        # Plain INSERT: COPY FROM STDIN would kill the WASM server.
        await conn.executemany(
            'INSERT INTO analytics_events ("timestamp", event_id, event_type, service, '
            "user_id, data) VALUES ($1, $2, $3, $4, $5, $6::jsonb)",
            rows,
        )
        await conn.execute(
            "INSERT INTO analytics_dead_letters (event_type, service, payload, error) "
            "VALUES ('task_created', 'svc', $1, 'too large'), ('task_created', 'svc', $2, 'x')",
            f'{{"user_id":"{ALICE}","command":"..."}}',
            f'{{"user_id":"{BOB}"}}',
        )
        await refresh_aggregates(
            conn, start=old - dt.timedelta(days=1), end=new + dt.timedelta(days=1)
        )
        dau = "SELECT DISTINCT user_id FROM analytics_daily_active_users ORDER BY user_id"
        assert [r["user_id"] for r in await conn.fetch(dau)] == sorted([ALICE, BOB])
        compressed = await conn.fetch(
            "SELECT compress_chunk(c) FROM show_chunks('analytics_events', "
            "older_than => $1::timestamptz) c",
            dt.datetime(2026, 2, 1, tzinfo=dt.UTC),
        )
        assert len(compressed) == 1
        status_before = await compression_status(conn)
        assert status_before == [True, False]

        removed = await forget_user(conn, ALICE)

        # raw rows (40 in the compressed chunk, 10 not), her dead letter, her 2 active days
        # and her 2 active weeks
        assert removed == 40 + 10 + 1 + 2 + 2
        assert [r["user_id"] for r in await conn.fetch(dau)] == [BOB]
        by_user = {
            r[0]: r[1]
            for r in await conn.fetch("SELECT user_id, count(*) FROM analytics_events GROUP BY 1")
        }
        assert by_user == {BOB: 50}
        assert await conn.fetchval("SELECT count(*) FROM analytics_dead_letters") == 1
        # The old chunk is still compressed afterwards (or compressed again).
        assert (await compression_status(conn))[0] is True
        assert await forget_user(conn, ALICE) == 0
    finally:
        # The WASM server does not answer asyncpg's graceful Terminate handshake in
        # time; dropping the socket is what ends the session there.
        conn.terminate()


async def compression_status(conn: asyncpg.Connection) -> list[bool]:
    records = await conn.fetch(
        "SELECT is_compressed FROM timescaledb_information.chunks "
        "WHERE hypertable_name = 'analytics_events' ORDER BY range_start"
    )
    return [r["is_compressed"] for r in records]


PARTIAL_OR_UNCOMPRESSED = """
    SELECT count(*) FILTER (WHERE NOT c.is_compressed OR (k.status & 8) <> 0) AS not_full,
           count(*) AS total
    FROM timescaledb_information.chunks c
    JOIN _timescaledb_catalog.chunk k
      ON k.schema_name = c.chunk_schema AND k.table_name = c.chunk_name
    WHERE c.hypertable_name = 'analytics_events'
"""


async def test_forget_user_leaves_every_touched_chunk_fully_compressed(
    timescale_url: str,
) -> None:
    """Issue 11: erasing one user from compressed chunks used to leave them partially
    decompressed (the hypertable grew 99 MB -> 250 MB). Afterwards every chunk must be
    fully compressed again, and the aggregates must equal a recomputation."""
    from tests import _aggregate_reference as ref

    conn = await asyncpg.connect(timescale_url, timeout=60, command_timeout=300)
    try:
        await conn.execute("SET search_path = public")
        await migrate(conn)
        now: dt.datetime = await conn.fetchval("SELECT now()")
        events = ref.generate(now - dt.timedelta(days=1), days=12, n=3000, seed=31)
        await ref.insert(conn, events, chunk_size=500)
        victim = max(
            {e[4] for e in events if e[4] is not None},
            key=lambda u: sum(1 for e in events if e[4] == u),
        )
        mine = sum(1 for e in events if e[4] == victim)
        await conn.execute("SELECT compress_chunk(c) FROM show_chunks('analytics_events') AS c")
        assert await conn.fetchval(PARTIAL_OR_UNCOMPRESSED) == 0
        spread = await conn.fetchrow(
            "SELECT count(DISTINCT tableoid) AS chunks,"
            " count(DISTINCT date_trunc('day', \"timestamp\")) AS days"
            " FROM analytics_events WHERE user_id = $1",
            victim,
        )
        assert spread is not None
        touched, days = spread["chunks"], spread["days"]
        # 12 daily chunks, compressed into chunks of up to 7 days (migration 0010) where
        # the server merges them: the victim is in every one of them, on most days.
        assert days >= 10 and touched >= 2
        size = "SELECT total_bytes FROM hypertable_detailed_size('analytics_events')"
        before = await conn.fetchval(size)

        removed = await forget_user(conn, victim)

        assert removed >= mine
        assert (
            await conn.fetchval("SELECT count(*) FROM analytics_events WHERE user_id = $1", victim)
            == 0
        )
        not_full = await conn.fetchval(PARTIAL_OR_UNCOMPRESSED)
        assert not_full == 0, f"{not_full} of {touched} touched chunks not fully compressed"
        after = await conn.fetchval(size)
        await conn.execute("VACUUM analytics_events")
        vacuumed = await conn.fetchval(size)
        print(
            f"\nerasure of {mine} rows from {touched} compressed chunks: hypertable "
            f"{before:,} B before, {after:,} B after, {vacuumed:,} B after VACUUM"
        )
        assert after <= before * 1.02  # storage back to its compressed size, no VACUUM needed
        rest = [e for e in events if e[4] != victim]
        await refresh_aggregates(conn, start=now - dt.timedelta(days=15))
        ref.compare(await ref.fetch_aggregates(conn), ref.reference(rest))
    finally:
        conn.terminate()
