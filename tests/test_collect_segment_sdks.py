"""Segment's stock SDKs, unmodified, against analytics-collect and a real PostgreSQL.

* ``@segment/analytics-node`` (npm, ``tests/segment_node``: package.json and lock
  committed, ``node_modules`` installed by the test run's ``npm ci``) and
  ``segment-analytics-python`` (PyPI, the ``dev`` extra), each pointed at the collector
  by its host option, send track/identify/page/group/alias with string user ids;
* faults on the way: the collector's database commits but the answer is lost (503, the
  SDK retries), the connection between SDK and collector is cut mid-run, the database
  is down for a while (the collector spools and acknowledges), and the collector is
  restarted (the spool is replayed by the new one);
* every message is stored exactly once, with its fields; none is refused.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import threading
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from lib_analytics_core.events.identity import user_uuid
from tests._collect import TOKEN, collector
from tests._faults import database_name, server_address, wait_until
from tests._proxy import fault_proxy

NODE_DIR = Path(__file__).parent / "segment_node"
CALLS = ("track", "identify", "page", "group", "alias")
TYPES = {
    "track": "order_completed",
    "identify": "segment_identify",
    "page": "segment_page",
    "group": "segment_group",
    "alias": "segment_alias",
}


def node_available() -> bool:
    if shutil.which("node") is None or shutil.which("npm") is None:
        return False
    if not (NODE_DIR / "node_modules" / "@segment" / "analytics-node").exists():
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=NODE_DIR,
            capture_output=True,
            timeout=300,
            check=False,
        )
        return done.returncode == 0
    return True


async def run_node(host: str, count: int, prefix: str) -> list[str]:
    proc = await asyncio.create_subprocess_exec(
        "node",
        "send.mjs",
        host,
        TOKEN,
        str(count),
        prefix,
        cwd=NODE_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 300)
    assert proc.returncode == 0, err.decode()[-2000:]
    failed: list[str] = json.loads(out.decode().strip().splitlines()[-1])["failed"]
    return failed


def send_python(host: str, count: int, prefix: str) -> list[str]:
    from segment.analytics import Client  # type: ignore[import-untyped]

    errors: list[str] = []
    client = Client(
        TOKEN,
        host=host,
        gzip=True,
        max_retries=30,
        upload_interval=0.05,
        upload_size=15,
        on_error=lambda err, batch: errors.append(repr(err)),
    )
    for i in range(count):
        user = f"{prefix}-user-{i % 3}"
        client.track(
            user_id=user,
            event="Order Completed",
            properties={"order": i, "revenue": i + 0.5, "prefix": prefix},
            message_id=f"{prefix}-track-{i}",
        )
        client.identify(
            user_id=user,
            traits={"plan": "pro", "email": f"u{i}@example.com"},
            message_id=f"{prefix}-identify-{i}",
        )
        client.page(
            anonymous_id=f"{prefix}-anon-{i}",
            name="Pricing",
            properties={"i": i},
            message_id=f"{prefix}-page-{i}",
        )
        client.group(
            user_id=user,
            group_id=f"{prefix}-org",
            traits={"seats": i},
            message_id=f"{prefix}-group-{i}",
        )
        client.alias(
            previous_id=f"{prefix}-anon-{i}", user_id=user, message_id=f"{prefix}-alias-{i}"
        )
    client.shutdown()
    return errors


async def check_rows(db: asyncpg.Connection, prefix: str, count: int) -> None:
    """Every message of ``prefix`` stored once, with its fields and mapped users."""
    rows = await db.fetch(
        "SELECT event_type, user_id, data FROM analytics_events"
        " WHERE data->'_meta'->>'message_id' LIKE $1",
        f"{prefix}-%",
    )
    ids = [json.loads(r["data"])["_meta"]["message_id"] for r in rows]
    assert len(ids) == len(set(ids)) == count * len(CALLS)
    for r in rows:
        data = json.loads(r["data"])
        call, i = data["_meta"]["message_id"].removeprefix(f"{prefix}-").split("-")
        assert r["event_type"] == TYPES[call] and data["_meta"]["call"] == call
        user = f"{prefix}-user-{int(i) % 3}"
        if call == "page":
            assert r["user_id"] == user_uuid(f"{prefix}-anon-{i}")
            assert data["name"] == "Pricing" and data["i"] == int(i)
            continue
        assert r["user_id"] == user_uuid(user) and data["_meta"]["user"] == user
        if call == "track":
            assert data["order"] == int(i) and data["revenue"] == int(i) + 0.5
            assert data["_meta"]["event"] == "Order Completed"
        elif call == "identify":
            assert data["plan"] == "pro" and "email" not in data
        elif call == "group":
            assert data["group_id"] == f"{prefix}-org" and data["seats"] == int(i)
        else:
            assert data["previous_id"] == f"{prefix}-anon-{i}"


async def test_node_sdk_through_lost_answers_an_outage_and_a_restart(
    database_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    if not node_available():
        pytest.fail(
            "node/npm are needed for the stock Node SDK test (npm ci in tests/segment_node)"
        )
    host, port = server_address(database_url)
    name = database_name(database_url)
    spool = tmp_path / "spool"
    with fault_proxy(host, port) as db_proxy:
        with collector(db_proxy.dsn(name), spool_dir=spool, retry_after_secs=1) as url:
            # The database commits, the collector never hears it, twice: 503, SDK retries.
            db_proxy.cut_after_commit(times=2)
            assert await run_node(url, 20, "n1") == []
            assert db_proxy.commits_cut == 2
            # The database goes away: the collector spools (fsync'd) and acknowledges.
            db_proxy.set_mode("refuse")
            db_proxy.cut()
            assert await run_node(url, 10, "n2") == []
        # Restart: a new collector on the same spool replays it once the database is back.
        db_proxy.set_mode("pass")
        with collector(db_proxy.dsn(name), spool_dir=spool, retry_after_secs=1) as url:
            assert await run_node(url, 10, "n3") == []

            async def replayed() -> bool:
                n = await db.fetchval(
                    "SELECT count(*) FROM analytics_events"
                    " WHERE data->'_meta'->>'message_id' LIKE 'n2-%'"
                )
                return bool(n == 10 * len(CALLS))

            await wait_until(replayed, "the spool replayed")
    for prefix, count in (("n1", 20), ("n2", 10), ("n3", 10)):
        await check_rows(db, prefix, count)
    assert await db.fetchval("SELECT count(*) FROM analytics_dead_letters") == 0


async def test_python_sdk_through_cut_connections_and_lost_answers(
    database_url: str, db: asyncpg.Connection
) -> None:
    host, port = server_address(database_url)
    name = database_name(database_url)
    with (
        fault_proxy(host, port) as db_proxy,
        collector(db_proxy.dsn(name), retry_after_secs=1) as url,
    ):
        parts = urlsplit(url)
        with fault_proxy(parts.hostname or "127.0.0.1", parts.port or 80) as http_proxy:
            sdk_url = f"http://127.0.0.1:{http_proxy.port}"
            db_proxy.cut_after_commit(times=2)
            stop = threading.Event()

            def cutter() -> None:  # cut the SDK's connections while it sends
                while not stop.wait(0.2):
                    http_proxy.cut()

            thread = threading.Thread(target=cutter, daemon=True)
            thread.start()
            try:
                errors = await asyncio.to_thread(send_python, sdk_url, 30, "p1")
            finally:
                stop.set()
                thread.join()
            assert errors == []
            assert db_proxy.commits_cut == 2
            assert http_proxy.connections_accepted > 1  # it reconnected after the cuts
    await check_rows(db, "p1", 30)
    assert await db.fetchval("SELECT count(*) FROM analytics_dead_letters") == 0
