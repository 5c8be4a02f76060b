"""Test-database helpers shared by fixtures and tests."""

from __future__ import annotations

import asyncpg

# Until the migrations land, tests create the seed's table (plus the event id) directly.
_BOOTSTRAP = """
CREATE TABLE analytics_events (
    id BIGSERIAL,
    "timestamp" TIMESTAMPTZ NOT NULL DEFAULT now(),
    event_id UUID NOT NULL,
    event_type VARCHAR(100) NOT NULL,
    service VARCHAR(100) NOT NULL,
    user_id UUID,
    data JSONB NOT NULL,
    PRIMARY KEY ("timestamp", event_id)
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


async def create_schema(conn: asyncpg.Connection) -> None:
    """Create the analytics schema in an empty database."""
    await conn.execute(_BOOTSTRAP)


async def drop_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
