"""Every component over every production connection path (issue 29 item 3).

Two paths besides the plain TCP URL the rest of the suite uses: a real PgBouncer 1.18 in
transaction pool mode (``tests/_pgbouncer.py``, started here), and the server's Unix
socket (``postgresql://user@/db?host=/dir``). Over each: migrations and ``status``,
``maintain`` and ``forget-user`` (the CLI), the worker, the HTTP collector, the bus
consumer (``analytics-ingest``), the read API as its read-only login, and the demo.

Before the fix, behind PgBouncer: the API answered 503 to every request and the collector
503 to every batch (PgBouncer refuses their startup parameters), the worker failed with
prepared-statement errors (``DuplicatePreparedStatementError`` / "does not exist": its
named statements live in one server session), and ``migrate`` left its session advisory
lock on whichever server session took it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from lib_analytics_core import AnalyticsClient, AnalyticsWorker, TaskCompleted, TaskCreated
from lib_analytics_core._connect import behind_pooler, create_pool
from lib_analytics_core._dburl import parse_database_url, with_login
from lib_analytics_core.alerts import parse_config
from lib_analytics_core.alerts.engine import evaluate_once
from lib_analytics_core.api import create_app
from lib_analytics_core.bus.stream import setup_bus
from lib_analytics_core.ingest.sinks.nats import NatsSink
from lib_analytics_core.read import tasks as read_tasks
from lib_analytics_core.schema.maintainer import (
    MAINTAINER_ENV,
    Maintainer,
    MaintainerSchedule,
    Role,
)
from tests._alerts import Receiver, config_text, write_requests
from tests._bus import bus_for, count_run, running_ingest, seq_rows, wait_drained
from tests._collect import AUTH as COLLECT_AUTH
from tests._collect import T0, collector, seed_batch
from tests._nats import nats_server
from tests._pgbouncer import PgBouncer, pgbouncer

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TOKEN = "paths-token-0123456789abcdef"
ROUTES = ["pgbouncer", "socket"]


@pytest.fixture(scope="module")
def bouncer(admin_url: str) -> Iterator[PgBouncer]:
    with pgbouncer(admin_url) as b:
        yield b


async def _socket_url(url: str, admin_url: str) -> str:
    """``url`` over the server's Unix socket (itself if it is one already); the
    superuser's ``admin_url`` reads where the socket is."""
    parsed = parse_database_url(url)
    if parsed.is_socket:
        return url
    conn = await asyncpg.connect(admin_url)
    try:
        dirs = await conn.fetchval("SHOW unix_socket_directories")
        port = int(await conn.fetchval("SHOW port"))
    finally:
        await conn.close()
    for directory in (d.strip() for d in dirs.split(",")):
        if directory.startswith("/") and Path(f"{directory}/.s.PGSQL.{port}").exists():  # noqa: ASYNC240
            return replace(parsed, hosts=(directory,), ports=(port,)).url()
    pytest.skip(f"the test server's socket ({dirs}) is not on this machine")


@pytest.fixture(params=ROUTES)
def route(request: pytest.FixtureRequest, admin_url: str) -> Any:
    """A function turning a test-server URL into one over this path."""
    if request.param == "pgbouncer":
        b: PgBouncer = request.getfixturevalue("bouncer")
        return lambda url: _async_value(b.url(url))
    return lambda url: _socket_url(url, admin_url)


async def _async_value(value: str) -> str:
    return value


def _cli(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if "DATABASE_URL" not in k}
    env["DATABASE_URL"] = url
    return subprocess.run(
        [str(BIN / "analytics-migrate"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


async def test_the_probe_tells_a_pooler_from_a_direct_connection(
    admin_url: str, bouncer: PgBouncer
) -> None:
    assert await behind_pooler(bouncer.url(admin_url)) is True
    assert await behind_pooler(admin_url) is False
    assert await behind_pooler(await _socket_url(admin_url, admin_url)) is False
    # released connections: asyncpg's session reset directly, nothing through the pooler
    for url, resets in ((bouncer.url(admin_url), False), (admin_url, True)):
        pool = await create_pool(url, min_size=0, max_size=1)
        try:
            async with pool.acquire() as conn:
                assert bool(conn.get_reset_query()) is resets
        finally:
            await pool.close()


async def test_migrate_status_maintain_and_forget_user(route: Any, empty_database_url: str) -> None:
    url = await route(empty_database_url)
    for args in (["all"], ["all"], ["status", "--check"], ["maintain"]):
        done = _cli(*args, url=url)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
    forgotten = _cli("forget-user", str(uuid.uuid4()), url=url)
    assert forgotten.returncode == 0, forgotten.stderr
    conn = await asyncpg.connect(empty_database_url)
    try:  # nothing left holding a session lock on a server session of the pooler
        held = await conn.fetch(
            "SELECT l.*, a.query FROM pg_locks l LEFT JOIN pg_stat_activity a USING (pid)"
            " WHERE l.locktype = 'advisory' AND l.database ="
            " (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
    finally:
        await conn.close()
    assert held == [], held


async def test_the_workers_write_every_event(route: Any, database_url: str) -> None:
    """Three services' workers at once: their transactions interleave on the pooler's
    server sessions (one worker alone tends to get the same session back)."""
    url = await route(database_url)
    n, services = 600, 3

    async def one(service: str) -> Any:
        client, cfg = AnalyticsClient.new(
            batch_size=25, flush_interval_secs=0.05, service_name=service
        )
        worker = AnalyticsWorker(cfg, url)
        task = asyncio.create_task(worker.run())
        for i in range(n):
            client.track(
                TaskCreated(
                    task_id=uuid.uuid4(), user_id=uuid.uuid4(), project_id=None,
                    cocoon_id=None, command=f"c{i}",
                )
            )  # fmt: skip
            if i % 50 == 49:
                await worker.flush(timeout=60)  # many batches, each its own transaction
        await worker.shutdown(timeout=60)
        await task
        return worker.stats()

    for stats in await asyncio.gather(*(one(f"svc{k}") for k in range(services))):
        assert (stats.written, stats.lost, stats.retried, stats.rejected) == (n, 0, 0, 0), stats
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM analytics_events") == n * services
    finally:
        await conn.close()


@pytest.fixture
async def reader(database_url: str) -> AsyncIterator[str]:
    name = f"lac_paths_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f"CREATE ROLE {name} LOGIN IN ROLE analytics_reader")
        yield with_login(database_url, name)
    finally:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", name
        )
        await conn.execute(f"DROP OWNED BY {name}")
        await conn.execute(f"DROP ROLE {name}")
        await conn.close()


async def test_the_api_answers_as_its_read_only_login(route: Any, reader: str) -> None:
    url = await route(reader)
    app = create_app(url, TOKEN, cache_ttl_s=0)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
            assert (await c.get("/healthz")).status_code == 200
            for path in ("/v1/overview", "/v1/tasks", "/v1/auth", "/v1/health", "/v1/tasks"):
                r = await c.get(path, headers=auth)
                assert r.status_code == 200, (path, r.text)
        pool = await app.state.db.pool()
        for _ in range(4):  # every transaction, on whichever server session it lands
            assert await pool.fetchval("SHOW transaction_read_only") == "on"
            assert await pool.fetchval("SHOW statement_timeout") != "0"
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            await pool.fetch("CREATE TEMP TABLE t (x int)")


def test_the_collector_accepts_concurrent_batches(route: Any, database_url: str) -> None:
    url = asyncio.run(route(database_url))
    batches = [seed_batch(T0 + dt.timedelta(minutes=k)) for k in range(8)]

    async def post_all(base: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=base, headers=COLLECT_AUTH, timeout=60) as http:
            return list(
                await asyncio.gather(*(http.post("/events/batch", json=b) for b in batches))
            )

    with collector(url) as base:
        for r in asyncio.run(post_all(base)):
            assert r.status_code == 200, r.text

    async def stored() -> int:
        conn = await asyncpg.connect(database_url)
        try:
            return int(await conn.fetchval("SELECT count(*) FROM analytics_events"))
        finally:
            await conn.close()

    assert asyncio.run(stored()) == sum(map(len, batches))


async def test_the_bus_consumer_writes_what_the_bus_holds(route: Any, database_url: str) -> None:
    url = await route(database_url)
    with nats_server() as server:
        bus = bus_for(server.url)
        await setup_bus(bus)
        sink = NatsSink(bus)
        try:
            await sink.deliver(seq_rows("paths", 300), redelivery=False, timeout=30)
        finally:
            await sink.close()
        async with running_ingest(url, bus):
            await wait_drained(bus, limit=120)
    conn = await asyncpg.connect(database_url)
    try:
        assert await count_run(conn, "paths") == 300
    finally:
        await conn.close()


def test_the_demo_writes_and_reads_back(
    route: Any, empty_database_url: str, tmp_path: Path
) -> None:
    url = asyncio.run(route(empty_database_url))
    env = {k: v for k, v in os.environ.items() if "DATABASE_URL" not in k}
    env["TMPDIR"] = str(tmp_path)
    done = subprocess.run(
        [str(BIN / "analytics-demo"), "--database-url", url, "--days", "1", "--users", "20",
         "--no-progress"],
        capture_output=True, text=True, env=env, timeout=300, check=False, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr


async def test_two_alert_evaluators_record_and_deliver_each_change_once(
    route: Any, database_url: str, db: asyncpg.Connection
) -> None:
    """The evaluator's serialisation (a transaction-level lock, each delivery in its own
    transaction with its row locked) through the pooler and the socket: two evaluators at
    the same minute record the outage's page once and the receiver gets it once."""
    url = await route(database_url)
    t = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
    await write_requests(db, t - dt.timedelta(days=3), t, 0.003)
    await write_requests(db, t, t + dt.timedelta(hours=1), 1.0)
    receiver = Receiver().start()
    try:
        cfg = parse_config(config_text(receiver.url))
        for minutes in (5, 6, 7):
            at = t + dt.timedelta(minutes=minutes)
            await asyncio.gather(evaluate_once(url, cfg, at=at), evaluate_once(url, cfg, at=at))
    finally:
        receiver.stop()
    assert await db.fetchval("SELECT count(*) FROM analytics_alert_history") == 1
    assert len(receiver.posts) == 1 and len(receiver.unique()) == 1


async def test_the_maintainer_elects_one_and_refreshes_through_the_path(
    route: Any, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lease (a row, not a session lock) and the refresh's tried transaction lock
    through the pooler and the socket: one holder, one follower, and a task tracked
    through the same path is counted after the holder's next tick."""
    monkeypatch.delenv(MAINTAINER_ENV, raising=False)
    url = await route(database_url)
    schedule = MaintainerSchedule(refresh_every=0.05, maintain_every=3600, lease_ttl=2.0)
    a = Maintainer(url, host="a", schedule=schedule)
    b = Maintainer(url, host="b", schedule=schedule)
    try:
        assert await a.tick() is Role.HOLDER  # a whole maintain() pass first
        assert await b.tick() is Role.FOLLOWER
        client, cfg = AnalyticsClient.new(flush_interval_secs=0.05, service_name="paths")
        worker = AnalyticsWorker(cfg, url)
        task = asyncio.create_task(worker.run())
        client.track(TaskCompleted(task_id=uuid.uuid4(), user_id=uuid.uuid4(), duration_ms=5))
        await worker.shutdown(timeout=60)
        await task
        assert await a.tick() is Role.HOLDER and a.last_error is None
        assert await b.tick() is Role.FOLLOWER
    finally:
        await a.close()
        await b.close()
    today = dt.datetime.now(dt.UTC).date()
    conn = await asyncpg.connect(database_url)
    try:
        rows = await read_tasks.task_stats(conn, start=today, end=today + dt.timedelta(days=1))
    finally:
        await conn.close()
    assert sum(r.completed for r in rows) == 1
