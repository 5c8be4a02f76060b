"""Migrations and maintenance for roles without superuser, and errors that name their cause.

Issue 14 item 5: the database owner (no superuser, no ``pg_read_all_settings``) must be
able to run every ``analytics-migrate`` command; a role that lacks a privilege gets a
:class:`MigrationError` naming the step and the privilege, not a driver traceback; and a
failed advisory unlock (dead connection) never replaces the error that caused it.
Runs against the real PostgreSQL server of the suite, with real roles.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from lib_analytics_core import (
    DatabaseUnavailableError,
    MigrationError,
    maintain,
    migrate,
    refresh_aggregates,
)
from lib_analytics_core._dburl import parse_database_url, with_database, with_login
from lib_analytics_core.schema.migrate import load_migrations

CLI = str(Path(sys.executable).with_name("analytics-migrate"))
N = len(load_migrations())


def _as_role(url: str, role: str, dbname: str) -> str:
    return with_database(with_login(url, role), dbname)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if "DATABASE_URL" not in k}
    env.pop("ANALYTICS_SCHEMA_TIER", None)
    return subprocess.run(
        [CLI, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


async def _admin(admin_url: str, *sql: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        for stmt in sql:
            await conn.execute(stmt)
    finally:
        await conn.close()


@pytest.fixture
async def owner_db(admin_url: str) -> AsyncIterator[str]:
    """A database owned by a fresh LOGIN role without superuser; yields its DSN as that role."""
    tag = uuid.uuid4().hex[:10]
    role, db = f"lac_owner_{tag}", f"lac_owned_{tag}"
    await _admin(
        admin_url,
        f'CREATE ROLE "{role}" LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB',
        f'CREATE DATABASE "{db}" OWNER "{role}"',
    )
    try:
        yield _as_role(admin_url, role, db)
    finally:
        await _admin(admin_url, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        await _admin(admin_url, f'DROP ROLE IF EXISTS "{role}"')


@pytest.fixture
async def outsider_url(admin_url: str, empty_database_url: str) -> AsyncIterator[str]:
    """A role that may connect to an empty database but not create anything in it."""
    role = f"lac_outsider_{uuid.uuid4().hex[:10]}"
    await _admin(admin_url, f'CREATE ROLE "{role}" LOGIN NOSUPERUSER')
    try:
        yield _as_role(
            empty_database_url, role, parse_database_url(empty_database_url).database or ""
        )
    finally:
        await _admin(admin_url, f'DROP ROLE IF EXISTS "{role}"')


async def test_database_owner_without_superuser_runs_every_command(owner_db: str) -> None:
    conn = await asyncpg.connect(owner_db)
    try:
        assert not await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    finally:
        await conn.close()

    status = await asyncio.to_thread(_cli, "status", "--database-url", owner_db)
    assert status.returncode == 0, status.stderr
    assert f"0 applied, {N} pending" in status.stdout
    dry = await asyncio.to_thread(_cli, "dry-run", "--database-url", owner_db)
    assert dry.returncode == 0, dry.stderr
    assert "CREATE TABLE analytics_events" in dry.stdout
    applied = await asyncio.to_thread(_cli, "all", "--database-url", owner_db)
    assert applied.returncode == 0, applied.stderr
    assert "schema tier: partitioned" in applied.stdout
    assert applied.stdout.count("applied  ") == N
    after = await asyncio.to_thread(_cli, "status", "--check", "--database-url", owner_db)
    assert after.returncode == 0, after.stdout + after.stderr
    assert f"{N} applied, 0 pending" in after.stdout
    maint = await asyncio.to_thread(_cli, "maintain", "--database-url", owner_db)
    assert maint.returncode == 0, maint.stderr

    conn = await asyncpg.connect(owner_db)
    try:
        assert await conn.fetchval("SELECT count(*) FROM analytics_schema_migrations") == N
        assert (await migrate(conn)).applied == ()
    finally:
        await conn.close()


async def test_role_without_create_on_the_schema_gets_a_migration_error(
    outsider_url: str,
) -> None:
    conn = await asyncpg.connect(outsider_url)
    try:
        with pytest.raises(MigrationError) as caught:
            await migrate(conn)
        message = str(caught.value)
        assert "permission denied for schema public" in message
        assert "CREATE" in message and "GRANT" in message
        assert "analytics_schema_migrations" in message  # the step that failed
        assert isinstance(caught.value.__cause__, asyncpg.InsufficientPrivilegeError)
        assert (
            await conn.fetchval("SELECT count(*) FROM pg_class WHERE relname LIKE 'analytics%'")
            == 0
        )
    finally:
        await conn.close()
    out = await asyncio.to_thread(_cli, "all", "--database-url", outsider_url)
    assert out.returncode == 1
    assert "MigrationError" in out.stderr and "permission denied for schema public" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("call", [maintain, refresh_aggregates], ids=["maintain", "refresh"])
async def test_connection_lost_mid_run_surfaces_the_original_error(
    database_url: str, call: object
) -> None:
    """The run's connection is killed while it waits for a lock; the advisory unlock in
    its cleanup then fails too. The error raised is the library's, naming the lost
    connection, not the unlock's ``ConnectionDoesNotExistError``."""
    conn = await asyncpg.connect(database_url)
    blocker = await asyncpg.connect(database_url)
    try:
        tx = blocker.transaction()
        await tx.start()
        await blocker.execute("LOCK TABLE analytics_refresh_invalidations IN ACCESS EXCLUSIVE MODE")
        pid = conn.get_server_pid()
        run = asyncio.ensure_future(call(conn))  # type: ignore[operator]
        for _ in range(500):
            waiting = await blocker.fetchval(
                "SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1", pid
            )
            if waiting == "Lock":
                break
            await asyncio.sleep(0.01)
        else:
            pytest.fail("the run never waited for the lock")
        assert await blocker.fetchval("SELECT pg_terminate_backend($1)", pid)
        with pytest.raises(DatabaseUnavailableError) as caught:
            await asyncio.wait_for(run, 30)
        assert "terminating connection" in str(caught.value) or "closed" in str(caught.value)
        assert caught.value.__cause__ is not None
        await tx.rollback()
    finally:
        await blocker.close()
        conn.terminate()


async def test_status_exits_non_zero_when_an_applied_migration_changed(database_url: str) -> None:
    ok = await asyncio.to_thread(_cli, "status", "--database-url", database_url)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "UPDATE analytics_schema_migrations SET checksum = 'x' || checksum WHERE version = 2"
        )
    finally:
        await conn.close()
    changed = await asyncio.to_thread(_cli, "status", "--database-url", database_url)
    assert changed.returncode == 1
    assert "changed  post 0002_post_create_aggregates" in changed.stdout


async def test_unreachable_database_is_reported_as_such_by_every_schema_call() -> None:
    """Every schema entry point takes a DSN too, and an unreachable server is a
    DatabaseUnavailableError naming the call, never an OSError."""
    from lib_analytics_core import forget_user, migration_status, schema_health

    dsn = "postgresql://postgres@127.0.0.1:1/nowhere"
    calls = {
        "maintenance": maintain(dsn),
        "aggregate refresh": refresh_aggregates(dsn),
        "forget_user": forget_user(dsn, uuid.uuid4()),
        "migration status": migration_status(dsn),
        "migrate": migrate(dsn),
        "schema health": schema_health(dsn),
    }
    for step, call in calls.items():
        with pytest.raises(DatabaseUnavailableError, match=step):
            await call
