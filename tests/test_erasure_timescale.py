"""forget_user on the TimescaleDB tier, with the user's rows inside a compressed chunk.

Uses the ``timescale_url`` fixture when conftest provides it; until then this module
starts the PGlite + TimescaleDB test server itself (tests/timescale_server/serve.mjs)
and creates the hypertable with the same compression settings as migration 0001. The
server takes one connection at a time, so everything here uses a single connection.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from lib_analytics_core import forget_user

pytestmark = pytest.mark.timescale

SERVER_DIR = Path(__file__).parent / "timescale_server"
ALICE = uuid.UUID("0190a0b0-0000-7000-8000-00000000a11c")
BOB = uuid.UUID("0190a0b0-0000-7000-8000-000000000b0b")

SCHEMA = """
SET search_path = public;
DROP TABLE IF EXISTS analytics_events CASCADE;
DROP TABLE IF EXISTS analytics_dead_letters;
CREATE TABLE analytics_events (
    id          BIGSERIAL,
    "timestamp" TIMESTAMPTZ NOT NULL DEFAULT now(),
    event_id    UUID NOT NULL,
    event_type  VARCHAR(100) NOT NULL,
    service     VARCHAR(100) NOT NULL,
    user_id     UUID,
    data        JSONB NOT NULL,
    PRIMARY KEY ("timestamp", event_id)
);
SELECT create_hypertable('analytics_events', by_range('timestamp', INTERVAL '1 day'));
ALTER TABLE analytics_events SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'event_type',
    timescaledb.compress_orderby = '"timestamp" DESC, event_id'
);
CREATE TABLE analytics_dead_letters (
    id BIGSERIAL PRIMARY KEY,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    event_timestamp TIMESTAMPTZ,
    event_id UUID UNIQUE,
    event_type TEXT NOT NULL,
    service TEXT NOT NULL,
    payload TEXT NOT NULL,
    error TEXT NOT NULL,
    sqlstate TEXT
);
"""


@pytest.fixture(scope="module")
def timescale_dsn(request: pytest.FixtureRequest) -> Iterator[str]:
    try:
        shared = request.getfixturevalue("timescale_url")
    except pytest.FixtureLookupError:
        shared = None
    if isinstance(shared, str):
        yield shared
        return
    node = shutil.which("node")
    if node is None or not (SERVER_DIR / "node_modules").is_dir():
        pytest.fail("the TimescaleDB test server needs node and tests/timescale_server deps")
    with socket.socket() as probe:  # a free loopback port for the server
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [node, "serve.mjs", "--port", str(free_port)],
        cwd=SERVER_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("READY "):
            pytest.fail(f"TimescaleDB test server did not start: {line!r}")
        port = int(line.split()[1])
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        if proc.stdout is not None:
            proc.stdout.close()
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def test_forget_user_deletes_rows_inside_a_compressed_chunk(timescale_dsn: str) -> None:
    conn = await asyncpg.connect(timescale_dsn, timeout=60, command_timeout=120)
    try:
        version = await conn.fetchval(
            "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
        )
        assert version is not None
        await conn.execute(SCHEMA)
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
        compressed = await conn.fetch(
            "SELECT compress_chunk(c) FROM show_chunks('analytics_events', "
            "older_than => $1::timestamptz) c",
            dt.datetime(2026, 2, 1, tzinfo=dt.UTC),
        )
        assert len(compressed) == 1
        status_before = await compression_status(conn)
        assert status_before == [True, False]

        removed = await forget_user(conn, ALICE)

        assert removed == 40 + 10 + 1
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
