"""Clients that are not this library: curl and a Node.js script post the seed's serde
JSON verbatim; two collector replicas behind one database."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import shutil
import subprocess
import uuid
from pathlib import Path

import asyncpg
import httpx
import msgspec
import pytest

from lib_analytics_core import TaskCreated
from tests._collect import AUTH, T0, TOKEN, collector, envelope, seed_batch, write_json
from tests._faults import database_name, server_address
from tests._proxy import fault_proxy

NODE_CLIENT = Path(__file__).with_name("collect_client.mjs")


def mixed_batch() -> list[object]:
    """The 29 seed events with three bad ones spliced in (indices 3, 10, 20)."""
    batch: list[object] = list(seed_batch())
    batch.insert(3, {**seed_batch()[0], "event": {"type": "task_exploded"}})
    batch.insert(10, {**seed_batch()[4], "timestamp": "yesterday"})
    bad = dict(seed_batch()[6])
    bad["event"] = {**bad["event"], "duration_ms": 2**40}  # beyond 24.8 days
    batch.insert(20, bad)
    return batch


def _db_parts(database_url: str) -> tuple[str, int, str]:
    return (*server_address(database_url), database_name(database_url))


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
async def test_curl_posts_the_seed_json_verbatim(
    database_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    body = write_json(tmp_path / "batch.json", mixed_batch())
    with collector(database_url) as url:
        out = await asyncio.to_thread(
            subprocess.run,
            [
                "curl", "-sS", "-X", "POST", f"{url}/events/batch",
                "-H", "Content-Type: application/json",
                "-H", f"Authorization: Bearer {TOKEN}",
                "--data-binary", f"@{body}",
            ],
            capture_output=True, check=True, timeout=60,
        )  # fmt: skip
        health = await asyncio.to_thread(
            subprocess.run, ["curl", "-sS", f"{url}/health"], capture_output=True, check=True
        )
    result = json.loads(out.stdout)
    assert result["received"] == 29
    assert [r["index"] for r in result["rejected"]] == [3, 10, 20]
    assert json.loads(health.stdout) == {"status": "ok"}
    assert await db.fetchval("SELECT count(*) FROM analytics_events") == 29


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
async def test_node_client_retries_after_cut_connections_and_is_stored_once(
    database_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """The collector's database connection is cut after the commit, twice (outcome
    unknown: 503); Node retries the same bytes; every accepted event is stored once."""
    body = write_json(tmp_path / "batch.json", mixed_batch())
    host, port, name = _db_parts(database_url)
    with fault_proxy(host, port) as proxy, collector(proxy.dsn(name)) as url:
        proxy.cut_after_commit(times=2)
        out = await asyncio.to_thread(
            subprocess.run,
            ["node", str(NODE_CLIENT), url, TOKEN, str(body)],
            capture_output=True, check=True, timeout=120,
        )  # fmt: skip
        assert proxy.commits_cut == 2
    result = json.loads(out.stdout)
    assert result["status"] == 200 and result["attempts"] == 2, result
    assert result["body"]["received"] == 29
    assert [r["index"] for r in result["body"]["rejected"]] == [3, 10, 20]
    assert await db.fetchval("SELECT count(*) FROM analytics_events") == 29


async def test_two_replicas_behind_one_database_store_each_event_once(
    database_url: str, db: asyncpg.Connection
) -> None:
    """Overlapping batches, each sent to both replicas concurrently (a load balancer
    retrying on the other one): rows = distinct ids = accepted events."""
    batches = [
        [
            envelope(
                TaskCreated(
                    task_id=uuid.UUID(int=b * 1000 + i + 1), user_id=uuid.UUID(int=1), command="x"
                ),
                T0 + dt.timedelta(seconds=b, microseconds=i),
            )
            for i in range(50)
        ]
        for b in range(8)
    ]
    # batch b also repeats the first 10 events of batch b-1
    for b in range(1, 8):
        batches[b] = batches[b] + batches[b - 1][:10]
    accepted: set[str] = set()
    with collector(database_url) as one, collector(database_url) as two:
        async with httpx.AsyncClient(timeout=60) as http:

            async def send(url: str, body: list[dict[str, object]]) -> None:
                r = await http.post(
                    f"{url}/events/batch", content=msgspec.json.encode(body), headers=AUTH
                )
                assert r.status_code == 200 and r.json()["rejected"] == []

            await asyncio.gather(*(send(u, b) for b in batches for u in (one, two)))
    for body in batches:
        for e in body:
            accepted.add(json.dumps(e, sort_keys=True))
    rows = await db.fetchval("SELECT count(*) FROM analytics_events")
    distinct = await db.fetchval("SELECT count(DISTINCT event_id) FROM analytics_events")
    assert rows == distinct == len(accepted) == 8 * 50
