"""Issue 29 item 1 on a real streaming replica: ``analytics-api`` pointed at a standby
answers its routes and never maintains; the primary's maintainer keeps it current.

The test starts its own pair of servers (PostgreSQL's ``initdb`` / ``pg_ctl`` /
``pg_basebackup -R``, from the machine's PostgreSQL installation) on free loopback
ports in a temporary directory, migrates the primary, and runs the real console
script against the standby. Nothing is scheduled: a worker on the primary hosts the
maintainer (shortened schedule); every wait is for a condition.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from lib_analytics_core import AnalyticsClient, AnalyticsWorker, migrate
from lib_analytics_core.events.catalog import ApiRequest, TaskCompleted
from lib_analytics_core.schema.maintainer import MAINTAINER_ENV, MaintainerSchedule
from tests._faults import wait_until
from tests._net import free_port

TOKEN = "test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
FAST = MaintainerSchedule(refresh_every=0.1, maintain_every=3600, lease_ttl=3.0)


def _bindir() -> Path | None:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "pg_basebackup").exists() and (candidate / "initdb").exists():
            return candidate
    found = shutil.which("pg_basebackup")
    return Path(found).parent if found and shutil.which("initdb") else None


def _as_server_user(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run the tools as ``postgres``."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


class Pair:
    def __init__(self, root: Path, bindir: Path) -> None:
        self.root, self.bin = root, bindir
        self.primary_port, self.standby_port = free_port(), free_port()
        self.primary, self.standby = root / "primary", root / "standby"

    def url(self, port: int) -> str:
        return f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def run(self, *cmd: str) -> None:
        subprocess.run(
            _as_server_user([str(self.bin / cmd[0]), *cmd[1:]]),
            check=True,
            capture_output=True,
            timeout=120,
        )

    def start(self, data: Path, port: int) -> None:
        opts = (
            f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root}"
            " -c fsync=off -c shared_buffers=16MB -c max_connections=40"
        )
        self.run("pg_ctl", "-D", str(data), "-l", str(data) + ".log", "-o", opts, "-w", "start")

    def stop(self, data: Path) -> None:
        with contextlib.suppress(Exception):
            self.run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")


@pytest.fixture
def pair() -> Iterator[Pair]:
    bindir = _bindir()
    if bindir is None:
        if os.environ.get("CI"):
            pytest.fail("initdb/pg_basebackup not found: the standby test cannot run")
        pytest.skip("standby NOT TESTED: PostgreSQL's initdb/pg_basebackup are not installed")
    root = Path(tempfile.mkdtemp(prefix="lac-standby-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    p = Pair(root, bindir)
    try:
        p.run("initdb", "-D", str(p.primary), "-U", "postgres", "--auth=trust", "-N")
        p.start(p.primary, p.primary_port)
        p.run(
            "pg_basebackup",
            *("-h", "127.0.0.1", "-p", str(p.primary_port), "-U", "postgres"),
            *("-D", str(p.standby), "-R", "-X", "stream"),
        )
        # The standby needs the schema's rows first: migrated before it starts reading.
        p.start(p.standby, p.standby_port)
        yield p
    finally:
        p.stop(p.standby)
        p.stop(p.primary)
        shutil.rmtree(root, ignore_errors=True)


def _events(user: uuid.UUID) -> list[object]:
    return [
        TaskCompleted(task_id=uuid.uuid4(), user_id=user, duration_ms=1234),
        ApiRequest(service="web", method="GET", endpoint="/x", status_code=200, duration_ms=9),
    ]


async def test_api_on_a_standby_answers_never_maintains_and_stays_current(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(MAINTAINER_ENV, raising=False)  # the suite turns it off (conftest)
    primary, standby = pair.url(pair.primary_port), pair.url(pair.standby_port)
    conn = await asyncpg.connect(primary)
    try:
        await migrate(conn, phase="all")
    finally:
        await conn.close()
    api_port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in (MAINTAINER_ENV, "DATABASE_URL")}
    env["ANALYTICS_API_TOKEN"] = TOKEN
    api = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "lib_analytics_core.cli.api",
        *("--database-url", standby, "--port", str(api_port), "--cache-ttl", "0"),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    client, cfg = AnalyticsClient.new(flush_interval_secs=0.05, service_name="web")
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}") as http:

            async def up() -> bool:
                with contextlib.suppress(httpx.HTTPError):
                    return (await http.get("/healthz")).status_code == 200
                return False

            await wait_until(up, "analytics-api on the standby to answer /healthz")
            worker = AnalyticsWorker(cfg, primary, maintainer_schedule=FAST)
            run = asyncio.create_task(worker.run())
            for event in _events(uuid.uuid4()):
                client.track(event)  # type: ignore[arg-type]
            today = (await _today(standby)).isoformat()
            tomorrow = (await _today(standby, 1)).isoformat()
            q = {"start": today, "end": tomorrow}

            async def current() -> bool:
                ov = await http.get("/v1/overview", params=q, headers=AUTH)
                tasks = await http.get("/v1/tasks", params=q, headers=AUTH)
                trends = await http.get(
                    "/v1/events/trends", params={**q, "granularity": "hour"}, headers=AUTH
                )
                assert ov.status_code == tasks.status_code == trends.status_code == 200
                types = {r["event_type"] for r in trends.json()["rows"]}
                return bool(
                    ov.json()["requests"] >= 1
                    and sum(r["completed"] for r in tasks.json()["rows"]) >= 1
                    and {"task_completed", "api_request"} <= types
                )

            await wait_until(current, "the standby's answers to show the new event")
            sby = await asyncpg.connect(standby)
            try:
                asked = (
                    "SELECT count(*) > 0 FROM pg_stat_activity"
                    " WHERE application_name = 'lib-analytics-core maintainer'"
                )

                async def api_maintainer_asked() -> bool:
                    return bool(await sby.fetchval(asked))

                # The API's maintainer is there, and found a standby (it wrote nothing).
                await wait_until(api_maintainer_asked, "the API's maintainer to ask the standby")
            finally:
                await sby.close()
            health = await http.get("/v1/health", headers=AUTH)
            assert health.status_code == 200
            await worker.shutdown(timeout=10)
            await run
    finally:
        if api.returncode is None:
            api.terminate()
            await api.wait()
    conn = await asyncpg.connect(primary)
    try:
        rows = await conn.fetch("SELECT holder FROM analytics_maintainer_lease")
        holders = {r["holder"] for r in rows}
    finally:
        await conn.close()
    assert holders and all(h.startswith("worker@") for h in holders), holders
    log = (pair.root / "standby.log").read_text(errors="replace")
    assert "read-only transaction" not in log, "something tried to write on the standby"


async def _today(url: str, plus: int = 0) -> dt.date:
    conn = await asyncpg.connect(url)
    try:
        day: dt.date = await conn.fetchval(
            "SELECT (now() AT TIME ZONE 'UTC')::date + $1::int", plus
        )
        return day
    finally:
        await conn.close()
