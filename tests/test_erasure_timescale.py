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
        assert removed == 40 + 10 + 1 + 2
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
