"""``analytics-ingest`` as an operator sees it (issue 19 item 5).

It says at start what it serves (stream, consumer, loops, database target, never the
password); ``--help`` names every environment variable it reads; against a database
that is not migrated it says to run ``analytics-migrate``; and once the database is
fixed, its stats and health say so (on the old code: ``connected: false, healthy:
false`` in the final stats after a recovery).
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator

import asyncpg
import pytest

from lib_analytics_core._dburl import DATABASE_URL_VARIABLES, parse_database_url, with_login
from lib_analytics_core.bus.config import BUS_ENV_VARIABLES
from lib_analytics_core.bus.stream import setup_bus
from lib_analytics_core.ingest.sinks.nats import NatsSink
from tests._bus import bus_for, count_run, running_ingest, seq_rows, wait_drained
from tests._db import create_schema
from tests._faults import REPO, wait_until
from tests._nats import NatsServer, nats_server


@pytest.fixture
def server() -> Iterator[NatsServer]:
    with nats_server() as s:
        yield s


def test_help_names_every_environment_variable_and_says_migrate_first() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "lib_analytics_core.cli.ingest", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=True,
    ).stdout
    flat = " ".join(out.split())
    missing = [v for v in (*DATABASE_URL_VARIABLES, *BUS_ENV_VARIABLES) if v not in flat]
    assert not missing, flat
    assert "analytics-migrate" in flat


def _with_password(url: str, password: str) -> str:
    """``url`` with a password: a TCP or a Unix-socket URL alike (this helper rebuilt
    the authority from ``hostname``/``port``, so the embedded server's socket URL became
    ``postgres@none:5432`` and the service retried a ``gaierror`` forever)."""
    return with_login(url, parse_database_url(url).user or "postgres", password)


async def test_start_is_logged_without_the_password_and_not_migrated_is_said_then_recovery(
    server: NatsServer,
    empty_database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="lib_analytics_core")
    bus = bus_for(server.url)
    await setup_bus(bus)
    sink = NatsSink(bus)
    try:
        await sink.deliver(seq_rows("operator", 20), redelivery=False, timeout=30)
    finally:
        await sink.close()
    url = _with_password(empty_database_url, "s3cret-pw")  # trust auth ignores it
    async with running_ingest(url, bus) as service:
        await wait_until(lambda: service.stats().failed_batches >= 1, "a failed write", 60)
        assert not service.stats().healthy
        db = await asyncpg.connect(empty_database_url)
        try:
            await create_schema(db)  # the operator runs analytics-migrate
            await wait_drained(bus, limit=60)
            assert await count_run(db, "operator") == 20
        finally:
            await db.close()
        await wait_until(lambda: service.stats().healthy, "healthy after recovery", 30)
        running = service.stats()
    final = service.stats()
    text = caplog.text
    assert "s3cret-pw" not in text
    start = [r.getMessage() for r in caplog.records if "stream" in r.getMessage()]
    assert start and bus.stream in start[0] and bus.durable in start[0], start
    assert f"/{parse_database_url(empty_database_url).database}" in start[0]
    assert "analytics-migrate" in text  # the not-migrated database is named as such
    assert running.connected and running.healthy and running.rows_written == 20, running
    assert final.connected and final.healthy, final  # the stats run() ends with
