"""How the API is served (issue 20, item 4): the work per request and the processes.

What the load benchmark's profile pointed at, each as a behaviour on the real database:

* no request runs any of its code in the thread pool (a sync dependency costs every
  request a thread hop and a GIL hand-off, ``/healthz`` included);
* a pooled connection goes back to the pool without a reset round trip (asyncpg's
  default runs ``RESET ALL; UNLISTEN *; ...`` on every release), and stays read-only;
* ``analytics-api --workers N`` serves from N processes, each with its own pool of at most
  ``--pool-size`` connections plus the health probe's, each as the reader login it was given;
* the ``api`` extra brings uvicorn's C HTTP parser and event loop, and uvicorn picks them.
"""

from __future__ import annotations

import asyncio
import gc
import os
import re
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio.to_thread
import asyncpg
import httpx
import psutil  # type: ignore[import-untyped]  # no stubs pinned; used in tests only
import pytest
from uvicorn.config import HTTP_PROTOCOLS, LOOP_FACTORIES
from uvicorn.importer import import_from_string

from lib_analytics_core._dburl import parse_database_url
from lib_analytics_core.api import create_app
from lib_analytics_core.cli import api as cli
from tests._faults import server_address
from tests._net import free_port
from tests._proxy import fault_proxy
from tests.test_api import AUTH, TOKEN, reader_url, seeded_url  # noqa: F401 - fixtures

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
APP_NAME = "lib-analytics-core api"

#: One request per /v1 route the dashboard asks, and the probe.
REQUESTS = [
    ("/v1/active-users", {}),
    ("/v1/tasks", {}),
    ("/v1/api-latency", {"granularity": "day", "group_by": "service"}),
    ("/v1/integrations", {"by_day": "false"}),
    ("/v1/auth", {}),
    ("/v1/cocoons", {}),
    ("/v1/errors", {}),
    ("/v1/errors/top", {}),
    ("/v1/endpoints/top", {}),
    ("/v1/overview", {}),
    ("/v1/events/types", {}),
    ("/v1/events/trends", {"granularity": "day"}),
    ("/v1/services", {}),
    ("/v1/window", {}),
    ("/v1/health", {}),
    ("/healthz", {}),
]


async def test_no_request_runs_code_in_the_thread_pool(
    reader_url: str,  # noqa: F811 - fixture
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every dependency and route is async: FastAPI runs a sync one in anyio's thread
    pool, a thread hop per request that the load profile showed queueing behind the
    busy event loop (and ``/healthz`` with it)."""
    original = anyio.to_thread.run_sync
    in_threads: list[str] = []

    async def spy(func: Any, *args: Any, **kwargs: Any) -> Any:
        in_threads.append(getattr(func, "__qualname__", repr(func)))
        return await original(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", spy)
    app = create_app(reader_url, TOKEN)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            for _ in range(2):  # a miss, then a cache hit
                for path, params in REQUESTS:
                    r = await client.get(path, params=params, headers=AUTH)
                    assert r.status_code == 200, (path, r.text)
    assert in_threads == []


async def _api_backends(conn: asyncpg.Connection, user: str) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT pid, usename, client_port, query FROM pg_stat_activity"
            " WHERE application_name = $1 AND usename = $2",
            APP_NAME,
            user,
        )
    )


def _user(url: str) -> str:
    user = parse_database_url(url).user
    assert user
    return user


async def test_a_released_connection_is_not_reset_by_a_round_trip(
    reader_url: str,  # noqa: F811 - fixture
    seeded_url: tuple[str, Any],  # noqa: F811 - fixture
) -> None:
    """After an answer, the pooled session's last statement is the route's query, not
    asyncpg's reset (``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET
    ALL``: a second round trip per query that the API never needs, since its queries
    set nothing); the session is still read-only afterwards."""
    admin_url, _ = seeded_url
    app = create_app(reader_url, TOKEN, cache_ttl_s=0)
    admin = await asyncpg.connect(admin_url)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
                for path in ("/v1/tasks", "/v1/auth"):
                    r = await c.get(path, headers=AUTH)
                    assert r.status_code == 200, r.text
                backends = [
                    b
                    for b in await _api_backends(admin, _user(reader_url))
                    if b["query"] != "SELECT 1"
                ]
                assert backends, "the pool holds no connection"
                for b in backends:
                    assert "RESET ALL" not in b["query"], b["query"]
                    assert "analytics_" in b["query"], b["query"]
                pool = await app.state.db.pool()
                async with pool.acquire() as conn:
                    assert await conn.fetchval("SHOW transaction_read_only") == "on"
                    with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
                        await conn.execute("CREATE TEMP TABLE t (x int)")
    finally:
        await admin.close()


@pytest.fixture
def api_server(
    reader_url: str,  # noqa: F811 - fixture
    tmp_path: Path,
) -> Iterator[tuple[str, psutil.Process, int]]:
    """``analytics-api --workers 2 --pool-size 2`` as installed, as the reader login,
    and the TCP port through which it reaches the database.

    Through a TCP proxy in front of the test server, whatever the server's own
    transport: the test tells the workers' connections apart by their TCP ports, and
    the embedded server (the README's ``python3 tasks.py test``) listens on a Unix
    socket only (this test read a port out of the URL and failed there).
    """
    host, pg_port = server_address(reader_url)
    with fault_proxy(host, pg_port) as proxy:
        through = parse_database_url(reader_url)
        tcp_url = replace(through, hosts=("127.0.0.1",), ports=(proxy.port,)).url()
        for served in _serve_api(tcp_url, tmp_path):
            yield (*served, proxy.port)


def _serve_api(url: str, tmp_path: Path) -> Iterator[tuple[str, psutil.Process]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",)}
    env["ANALYTICS_API_TOKEN"] = TOKEN
    log = (tmp_path / "api.log").open("w")
    cmd = [str(BIN / "analytics-api"), "--port", str(port), "--workers", "2"]
    cmd += ["--pool-size", "2", "--database-url", url, "--log-level", "warning"]
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (tmp_path / "api.log").read_text()
            try:
                if httpx.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "api.log").read_text()
            time.sleep(0.1)
        yield base, psutil.Process(server.pid)
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
        log.close()


def _postgres_ports(proc: psutil.Process, pg_port: int) -> set[int]:
    """Local ports of ``proc``'s TCP connections to PostgreSQL."""
    return {
        c.laddr.port
        for c in proc.net_connections(kind="tcp")
        if c.raddr and c.raddr.port == pg_port and c.status == psutil.CONN_ESTABLISHED
    }


async def test_workers_serve_from_several_processes_each_as_the_reader(
    api_server: tuple[str, psutil.Process, int],
    reader_url: str,  # noqa: F811 - fixture
    seeded_url: tuple[str, Any],  # noqa: F811 - fixture
) -> None:
    base, supervisor, pg_port = api_server
    admin_url, _ = seeded_url
    # uvicorn's spawned workers (not multiprocessing's resource tracker)
    workers = [w for w in supervisor.children() if "spawn_main" in " ".join(w.cmdline())]
    assert len(workers) == 2, supervisor.children()
    serving: set[int] = set()
    # New connections until both workers have answered a /v1 question (each opens its
    # pool on its first one); every query distinct so none is a cache hit.
    async with httpx.AsyncClient(base_url=base, headers=AUTH, timeout=30) as http:
        for i in range(200):
            burst = [
                http.get(
                    "/v1/tasks",
                    params={"start": f"2026-01-{1 + (i + k) % 28:02d}"},
                    headers={"Connection": "close"},
                )
                for k in range(8)
            ]
            for r in await asyncio.gather(*burst):
                assert r.status_code == 200, r.text
            serving = {w.pid for w in workers if _postgres_ports(w, pg_port)}
            if len(serving) == 2:
                break
    assert len(serving) == 2, "one worker answered every request"
    admin = await asyncpg.connect(admin_url)
    try:
        backends = await admin.fetch(
            "SELECT usename FROM pg_stat_activity WHERE application_name = $1", APP_NAME
        )
    finally:
        await admin.close()
    # every API session is the reader's (the proxy forwards logins unchanged)
    assert backends and {b["usename"] for b in backends} == {_user(reader_url)}, backends
    for w in workers:
        ports = _postgres_ports(w, pg_port)
        # its own pool (at most --pool-size) plus the /healthz probe's connection
        assert len(ports) <= 2 + 1, (w.pid, ports)


def test_the_api_extra_brings_uvicorns_c_parser_and_loop() -> None:
    """``pip install .[api]`` gets httptools and uvloop (lower bounds; constraints.txt pins
    them), and uvicorn's ``auto`` settings, which ``analytics-api`` uses, pick them."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    api = {re.split(r"[<>=!~; ]", spec, maxsplit=1)[0]: spec for spec in extras["api"]}
    assert re.fullmatch(r"httptools>=[\d.]+", api.get("httptools", "")), api
    assert re.fullmatch(r"uvloop>=[\d.]+; sys_platform != 'win32'", api.get("uvloop", "")), api
    pins = (ROOT / "constraints.txt").read_text()
    assert re.search(r"^httptools==", pins, re.M) and re.search(r"^uvloop==", pins, re.M)
    http = import_from_string(HTTP_PROTOCOLS["auto"])
    assert http.__name__ == "HttpToolsProtocol"
    factory = import_from_string(LOOP_FACTORIES["auto"])(use_subprocess=False)
    loop = factory()
    try:
        assert type(loop).__module__.startswith("uvloop")
    finally:
        loop.close()


def test_the_served_process_freezes_its_start_up_objects(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A worker's app is built with the start-up heap (FastAPI, pydantic, the routes:
    tens of thousands of objects) moved out of the collector's reach (``gc.freeze``): a
    full collection walked all of them, 100+ ms with the event loop stopped, the
    ``/healthz`` maxima of the load benchmark. What is frozen lives as long as the
    process anyway."""
    settings = '{"database_url": "postgresql://u@127.0.0.1:1/x", "pool_max_size": 2,'
    monkeypatch.setenv(cli.WORKER_SETTINGS, settings + ' "cache_ttl_s": 2.0}')
    monkeypatch.setenv("ANALYTICS_API_TOKEN", TOKEN)
    gc.unfreeze()
    try:
        cli.worker_app()
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
