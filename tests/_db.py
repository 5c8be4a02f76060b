"""Test-database helpers shared by fixtures and tests."""

from __future__ import annotations

import asyncpg

from lib_analytics_core import migrate


async def create_schema(conn: asyncpg.Connection) -> None:
    """Create the analytics schema in an empty database: the real migrations, all phases."""
    await migrate(conn, phase="all")


async def drop_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
