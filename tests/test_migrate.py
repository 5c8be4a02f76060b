"""The migration runner and ``analytics-migrate`` on plain PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from lib_analytics_core import (
    ChecksumMismatchError,
    MigrationError,
    SchemaTier,
    ServerKind,
    detect_server_kind,
    migrate,
    migration_status,
)
from lib_analytics_core.schema import migrate as m
from tests import _aggregate_reference as ref

CLI = str(Path(sys.executable).with_name("analytics-migrate"))
# Every shipped migration, in order (the count grows as migrations are added).
NAMES = tuple(x.name for x in m.load_migrations())
POST = tuple(n for n in NAMES if "_post_" in n)
N = len(NAMES)
# 0002's fixed histogram columns (h00..h83), which 0004 dropped from the live relations.
COLUMN_NAMES = tuple(f"h{k:02d}" for k in range(84))
# The contract's relations, stated independently of the library's own lists.
RELATIONS = (
    "analytics_events",
    "analytics_dead_letters",
    *ref.AGGREGATES,
    "analytics_active_users_daily",
)


def _cli(*args: str, env_url: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PLATFORM_DATABASE_URL")
    }
    environ.update(env)
    if env_url:
        environ["DATABASE_URL"] = env_url
    return subprocess.run(
        [CLI, *args], capture_output=True, text=True, env=environ, timeout=120, check=False
    )


async def test_all_then_status_on_fresh_database(empty_database_url: str) -> None:
    conn = await asyncpg.connect(empty_database_url)
    try:
        assert await detect_server_kind(conn) is ServerKind.POSTGRESQL
        before = await migration_status(conn)
        assert [s.state for s in before.migrations] == ["pending"] * N
        report = await migrate(conn)
        assert report.tier is SchemaTier.PARTITIONED
        assert report.applied == NAMES
        for rel in RELATIONS:
            assert await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", rel), rel
        cols = await conn.fetch(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_name = 'analytics_api_latency_hourly' ORDER BY ordinal_position"
        )
        names = [c["column_name"] for c in cols]
        # 0004 recreated it without the fixed-histogram columns of 0002
        assert not set(COLUMN_NAMES) & set(names) and "duration_count" in names
        status = await migration_status(conn)
        assert [s.state for s in status.migrations] == ["applied"] * N
        assert status.server.kind is ServerKind.POSTGRESQL
        again = await migrate(conn)
        assert again.applied == ()
        # The read-only role exists and can only read.
        assert await conn.fetchval(
            "SELECT has_table_privilege('analytics_reader', 'analytics_errors_hourly', 'SELECT')"
            " AND NOT has_table_privilege('analytics_reader', 'analytics_events', 'INSERT')"
        )
    finally:
        await conn.close()


async def test_pre_then_post_phases(empty_database_url: str) -> None:
    conn = await asyncpg.connect(empty_database_url)
    try:
        with pytest.raises(MigrationError, match="analytics-migrate pre"):
            await migrate(conn, phase="post")
        pre = await migrate(conn, phase="pre")
        assert pre.applied == tuple(n for n in NAMES if "_pre_" in n)
        assert not await conn.fetchval(
            "SELECT to_regclass('analytics_task_stats_daily') IS NOT NULL"
        )
        post = await migrate(conn, phase="post")
        assert post.applied == POST
    finally:
        await conn.close()


async def test_dry_run_changes_nothing(empty_database_url: str) -> None:
    conn = await asyncpg.connect(empty_database_url)
    try:
        tables = "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace"
        n0 = await conn.fetchval(tables)
        report = await migrate(conn, dry_run=True)
        assert report.dry_run and len(report.sql) == N
        assert "CREATE TABLE analytics_events" in report.sql[0][1]
        assert await conn.fetchval(tables) == n0 == 0
    finally:
        await conn.close()


async def test_changed_applied_migration_is_refused(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "UPDATE analytics_schema_migrations SET checksum = 'x' || checksum WHERE version = 1"
        )
        with pytest.raises(ChecksumMismatchError, match="0001_pre_create_analytics_events"):
            await migrate(conn)
        status = await migration_status(conn)
        assert status.migrations[0].state == "changed"
    finally:
        await conn.close()


async def test_failing_migration_rolls_back_and_names_statement(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = m.load_migrations()
    bad = dataclasses.replace(
        real[0],
        version=9999,
        name="9999_pre_broken",
        files=("9999_pre_broken.sql",),
        timescale_sql="CREATE TABLE lac_probe (x int);\nSELECT * FROM no_such_table;\n",
        partitioned_sql="CREATE TABLE lac_probe (x int);\nSELECT * FROM no_such_table;\n",
        checksum="c",
    )
    monkeypatch.setattr(m, "load_migrations", lambda: [*real, bad])
    conn = await asyncpg.connect(database_url)
    try:
        with pytest.raises(MigrationError, match=r"9999_pre_broken failed at statement 2/2"):
            await migrate(conn)
        assert not await conn.fetchval("SELECT to_regclass('lac_probe') IS NOT NULL")
        assert await conn.fetchval("SELECT count(*) FROM analytics_schema_migrations") == N
    finally:
        await conn.close()


async def test_concurrent_migrate_applies_once(empty_database_url: str) -> None:
    conns = [await asyncpg.connect(empty_database_url) for _ in range(5)]
    try:
        reports = await asyncio.gather(*(migrate(c) for c in conns))
        applied = [name for r in reports for name in r.applied]
        assert sorted(applied) == list(NAMES)
        assert await conns[0].fetchval("SELECT count(*) FROM analytics_schema_migrations") == N
    finally:
        for c in conns:
            await c.close()


def test_split_statements_respects_quotes_and_dollar_quoting() -> None:
    sql = "SELECT ';';\n-- a; comment\nDO $x$ BEGIN PERFORM 1; END $x$;\n/* ; */ SELECT \"a;b\";"
    assert m.split_statements(sql) == [
        "SELECT ';';",
        "-- a; comment\nDO $x$ BEGIN PERFORM 1; END $x$;",
        '/* ; */ SELECT "a;b";',
    ]


def test_migrations_ship_in_package_with_phases() -> None:
    migs = m.load_migrations()
    got = [(x.version, x.phase) for x in migs]
    assert {(1, "pre"), (2, "post"), (3, "post"), (4, "post"), (5, "post")} <= set(got)
    assert got == sorted(got)
    # 0002 spells its fixed histogram out in plain SQL (no placeholder left).
    sql = migs[1].sql(SchemaTier.PARTITIONED)
    code = "\n".join(ln for ln in sql.splitlines() if not ln.lstrip().startswith("--"))
    assert f"AS {COLUMN_NAMES[-1]}" in code
    assert "{{" not in code


# ----------------------------------------------------------------------------- CLI


def test_cli_concurrent_all_then_status(empty_database_url: str) -> None:
    procs = [
        subprocess.Popen(
            [CLI, "all", "--database-url", empty_database_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], outs
    applied = sum(o[0].count("applied  ") for o in outs)
    assert applied == N
    status = _cli("status", env_url=empty_database_url)
    assert status.returncode == 0, status.stderr
    assert "server: postgresql" in status.stdout
    assert f"{N} applied, 0 pending" in status.stdout
    maint = _cli("maintain", PLATFORM_DATABASE_URL=empty_database_url)
    assert maint.returncode == 0, maint.stderr
    assert "schema tier: partitioned" in maint.stdout


def test_cli_dry_run_prints_sql_and_changes_nothing(empty_database_url: str) -> None:
    out = _cli("dry-run", "--database-url", empty_database_url)
    assert out.returncode == 0, out.stderr
    assert "CREATE TABLE analytics_events" in out.stdout
    status = _cli("status", "--database-url", empty_database_url)
    assert f"0 applied, {N} pending" in status.stdout


def test_cli_without_url_fails_clearly() -> None:
    out = _cli("status")
    assert out.returncode == 2
    assert "DATABASE_URL" in out.stderr


def test_cli_unreachable_server_fails_clearly() -> None:
    out = _cli("all", "--database-url", "postgresql://postgres@127.0.0.1:1/nowhere")
    assert out.returncode == 3
    assert "unreachable" in out.stderr
