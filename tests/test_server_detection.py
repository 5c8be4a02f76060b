"""Server detection and the tier ``auto`` picks: true on every real server kind, any role.

Real servers, each case where this machine has it:

* a native TimescaleDB preloading the extension (``$TEST_TIMESCALE_URL`` pointing at a
  non-PGlite server): a fresh database without the extension (the defect of issue 18:
  it got the partitioned tier), a database owner without superuser, a role that may not
  create the extension, a database that already has it;
* the suite's PostgreSQL (``$TEST_DATABASE_URL``), where TimescaleDB may be installed but
  not preloaded (creating the extension there kills the session: detection must never
  try) or not installed at all;
* PGlite (the extension built in and already created).

The decision itself (facts -> kind -> tier and the sentence explaining it) is pure and
tested for every combination, including the licence cases no server here can show (an
Apache-only build, ``timescaledb.license = 'apache'`` in the server's configuration).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from lib_analytics_core import MigrationError, SchemaTier, ServerKind, migrate, migration_status
from lib_analytics_core.schema.server import (
    DetectionFacts,
    choose_tier,
    classify,
    detect_server,
)

CLI = str(Path(sys.executable).with_name("analytics-migrate"))


def _with(url: str, *, db: str | None = None, user: str | None = None) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc
    if user is not None:
        netloc = f"{user}@{netloc.rsplit('@', 1)[-1]}"
    path = "/" + db if db is not None else parts.path
    return urlunsplit((parts.scheme, netloc, path, parts.query, ""))


async def _admin(url: str, *sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        for stmt in sql:
            await conn.execute(stmt)
    finally:
        await conn.close()


@pytest.fixture
async def native_admin() -> str:
    """A superuser DSN of a native (not PGlite) TimescaleDB server, or skip."""
    url = os.environ.get("TEST_TIMESCALE_URL")
    if not url:
        pytest.skip("needs a native TimescaleDB: set TEST_TIMESCALE_URL")
    conn = await asyncpg.connect(url)
    try:
        version = str(await conn.fetchval("SELECT version()"))
        preloaded = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_settings WHERE name = 'timescaledb.disable_load')"
        )
    finally:
        await conn.close()
    if "emscripten" in version.lower() or not preloaded:
        pytest.skip("TEST_TIMESCALE_URL is not a native server preloading TimescaleDB")
    return url


@pytest.fixture
async def native_db(native_admin: str) -> AsyncIterator[str]:
    """A fresh database on the native server (no extension in it), dropped afterwards."""
    name = f"lac_det_{uuid.uuid4().hex[:10]}"
    await _admin(native_admin, f'CREATE DATABASE "{name}"')
    try:
        yield _with(native_admin, db=name)
    finally:
        await _admin(native_admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def native_owner_db(native_admin: str) -> AsyncIterator[str]:
    """A fresh database owned by a LOGIN role without superuser (a managed-service owner)."""
    tag = uuid.uuid4().hex[:10]
    role, name = f"lac_det_owner_{tag}", f"lac_det_owned_{tag}"
    await _admin(
        native_admin,
        f'CREATE ROLE "{role}" LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB',
        f'CREATE DATABASE "{name}" OWNER "{role}"',
    )
    try:
        yield _with(native_admin, db=name, user=role)
    finally:
        await _admin(native_admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await _admin(native_admin, f'DROP ROLE IF EXISTS "{role}"')


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if "DATABASE_URL" not in k}
    env.pop("ANALYTICS_SCHEMA_TIER", None)
    return subprocess.run(
        [CLI, *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )


async def _extension_installed(url: str) -> bool:
    conn = await asyncpg.connect(url)
    try:
        return bool(
            await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = $1)", "timescaledb"
            )
        )
    finally:
        await conn.close()


# ------------------------------------------------------------------ native server


def test_native_fresh_database_migrates_with_the_timescale_tier(native_db: str) -> None:
    out = _cli("all", "--database-url", native_db)
    assert out.returncode == 0, out.stderr
    assert "schema tier: timescale (auto: TimescaleDB" in out.stdout
    assert "preloaded" in out.stdout and "not loaded" not in out.stdout
    status = _cli("status", "--database-url", native_db)
    assert "schema tier: timescale (recorded in" in status.stdout


async def test_native_fresh_database_accepts_tier_timescale(native_db: str) -> None:
    conn = await asyncpg.connect(native_db)
    try:
        report = await migrate(conn, phase="pre", tier="timescale")
        assert report.tier is SchemaTier.TIMESCALE
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM timescaledb_information.hypertables"
                " WHERE hypertable_name = 'analytics_events'"
            )
            == 1
        )
    finally:
        await conn.close()


async def test_native_detection_probe_leaves_no_extension_behind(native_db: str) -> None:
    conn = await asyncpg.connect(native_db)
    try:
        plain = await detect_server(conn)
        assert plain.kind is ServerKind.TIMESCALEDB and plain.timescaledb_preloaded
        assert plain.timescaledb_version is None  # not created here (yet)
        probed = await detect_server(conn, probe=True)
        assert probed.kind is ServerKind.TIMESCALEDB
        assert probed.timescaledb_license == "timescale" and probed.extension_creatable
        assert "preloaded" in choose_tier(probed, "auto").reason
    finally:
        await conn.close()
    assert not await _extension_installed(native_db)


async def test_native_owner_without_superuser_gets_the_timescale_tier(
    native_owner_db: str,
) -> None:
    conn = await asyncpg.connect(native_owner_db)
    try:
        assert not await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        status = await migration_status(conn)
        assert status.tier is SchemaTier.TIMESCALE, status.tier_reason
        report = await migrate(conn, phase="pre")
        assert report.tier is SchemaTier.TIMESCALE
        assert "preloaded" in report.tier_reason
    finally:
        await conn.close()


async def test_native_role_that_may_not_create_the_extension_is_told_why(
    native_db: str, native_admin: str
) -> None:
    role = f"lac_det_guest_{uuid.uuid4().hex[:10]}"
    await _admin(native_admin, f'CREATE ROLE "{role}" LOGIN NOSUPERUSER')
    # It may create tables in the schema, but not extensions in the database.
    await _admin(native_db, f'GRANT CREATE ON SCHEMA public TO "{role}"')
    try:
        conn = await asyncpg.connect(_with(native_db, user=role))
        try:
            status = await migration_status(conn)
            assert status.tier is SchemaTier.PARTITIONED
            assert "may not create the extension" in status.tier_reason
            assert "CREATE EXTENSION timescaledb" in status.tier_reason
            with pytest.raises(MigrationError, match="may not create the extension"):
                await migrate(conn, tier="timescale")
        finally:
            await conn.close()
    finally:
        await _admin(native_db, "DROP TABLE IF EXISTS analytics_schema_migrations")
        await _admin(native_db, f'REVOKE ALL ON SCHEMA public FROM "{role}"')
        await _admin(native_admin, f'DROP ROLE IF EXISTS "{role}"')
    assert not await _extension_installed(native_db)


async def test_native_database_with_the_extension_already_created(native_db: str) -> None:
    await _admin(native_db, "CREATE EXTENSION timescaledb")
    conn = await asyncpg.connect(native_db)
    try:
        info = await detect_server(conn)
        assert info.kind is ServerKind.TIMESCALEDB and info.timescaledb_version
        status = await migration_status(conn)
        assert status.tier is SchemaTier.TIMESCALE
        assert "installed in this database" in status.tier_reason
    finally:
        await conn.close()


# ------------------------------------------------- the suite's PostgreSQL server


async def test_plain_server_gets_partitioned_with_a_true_reason(empty_database_url: str) -> None:
    """Installed-but-not-preloaded (this machine's PostgreSQL) or absent: never probed
    (CREATE EXTENSION without the preload is FATAL there), and the reason says which."""
    conn = await asyncpg.connect(empty_database_url)
    try:
        available = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')"
        )
        info = await detect_server(conn, probe=True)
        assert info.kind is ServerKind.POSTGRESQL and not info.timescaledb_preloaded
        assert info.extension_creatable is None  # not tried
        status = await migration_status(conn)
        expected = "not loaded (not in shared_preload_libraries)" if available else "not available"
        assert status.tier is SchemaTier.PARTITIONED and expected in status.tier_reason
        with pytest.raises(MigrationError, match=expected.split(" (", maxsplit=1)[0]):
            await migrate(conn, tier="timescale")
        report = await migrate(conn, phase="pre")
        assert report.tier is SchemaTier.PARTITIONED and expected in report.tier_reason
        assert await conn.fetchval("SELECT 1") == 1  # the session survived detection
    finally:
        await conn.close()


# ---------------------------------------------------------------------- PGlite


@pytest.mark.timescale
async def test_timescale_server_reason_names_what_it_found(timescale_url: str) -> None:
    conn = await asyncpg.connect(timescale_url, statement_cache_size=0)
    try:
        await conn.execute("SET search_path = public")
        status = await migration_status(conn)
        assert status.tier is SchemaTier.TIMESCALE
        assert "license=timescale" in status.tier_reason
        assert "installed in this database" in status.tier_reason or (
            "preloaded" in status.tier_reason
        )
    finally:
        await conn.close()


# ------------------------------------------------------------ the decision, pure


def _facts(**kw: object) -> DetectionFacts:
    base: dict[str, object] = {
        "version": "PostgreSQL 15.20 on x86_64-pc-linux-gnu",
        "server_version_num": 150020,
        "installed_version": None,
        "available_version": None,
        "loaded": False,
        "license_setting": None,
    }
    base.update(kw)
    return DetectionFacts(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("facts", "probe", "kind", "tier", "says"),
    [
        # native, preloaded, extension not yet created, probe creates it and rolls back
        (
            _facts(available_version="2.28.3", loaded=True),
            ("timescale", None),
            ServerKind.TIMESCALEDB,
            SchemaTier.TIMESCALE,
            "TimescaleDB 2.28.3 is preloaded",
        ),
        # ... the same, but this role may not create it
        (
            _facts(available_version="2.28.3", loaded=True),
            (None, "permission denied to create extension"),
            ServerKind.TIMESCALEDB,
            SchemaTier.PARTITIONED,
            "may not create the extension",
        ),
        # an Apache-only build / licence apache (probe reads the effective licence)
        (
            _facts(available_version="2.28.3", loaded=True),
            ("apache", None),
            ServerKind.TIMESCALEDB_APACHE,
            SchemaTier.PARTITIONED,
            "license=apache",
        ),
        # licence apache in the configuration, extension created
        (
            _facts(
                installed_version="2.28.3",
                available_version="2.28.3",
                loaded=True,
                license_setting="apache",
            ),
            None,
            ServerKind.TIMESCALEDB_APACHE,
            SchemaTier.PARTITIONED,
            "license=apache",
        ),
        # extension created (PGlite, or a DBA ran CREATE EXTENSION)
        (
            _facts(
                installed_version="2.23.0",
                available_version="2.23.0",
                loaded=True,
                license_setting="timescale",
            ),
            None,
            ServerKind.TIMESCALEDB,
            SchemaTier.TIMESCALE,
            "installed in this database",
        ),
        # installed on the server, not preloaded
        (
            _facts(available_version="2.28.3"),
            None,
            ServerKind.POSTGRESQL,
            SchemaTier.PARTITIONED,
            "not loaded (not in shared_preload_libraries)",
        ),
        # plain PostgreSQL
        (_facts(), None, ServerKind.POSTGRESQL, SchemaTier.PARTITIONED, "not available"),
    ],
)
def test_every_detection_case_picks_a_tier_and_says_why(
    facts: DetectionFacts,
    probe: tuple[str | None, str | None] | None,
    kind: ServerKind,
    tier: SchemaTier,
    says: str,
) -> None:
    info = classify(facts, probe)
    assert info.kind is kind
    choice = choose_tier(info, "auto")
    assert choice.tier is tier
    assert says in choice.reason, choice.reason
    if tier is SchemaTier.PARTITIONED:
        with pytest.raises(MigrationError, match="timescale tier was requested"):
            choose_tier(info, "timescale")
    else:
        assert choose_tier(info, "timescale").tier is SchemaTier.TIMESCALE
    assert choose_tier(info, "partitioned").tier is SchemaTier.PARTITIONED
