"""Every I/O call site of the collector's write path failing with every error class
(``tests/_inject.py``: a full/broken/read-only disk, a full stream, a stray
cancellation, an unlisted exception, an unlisted SQLSTATE), against a real database,
through both write routes (``/events/batch`` and Segment's ``/v1/batch``).

The invariant, whatever fails: no answer but 200 or 503 (never a 500, never a hang); a
200 means every accepted event is stored or spooled; after the fault heals the client's
retry is answered 200 and the database holds each event exactly once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest

from lib_analytics_core import TaskCreated
from lib_analytics_core.ingest import pipeline as pipeline_module
from lib_analytics_core.ingest.sinks import make_sink
from tests._collect import AUTH, T0, collector, envelope
from tests._faults import database_name, server_address, wait_until
from tests._inject import ERRORS, SPOOL_SITES, Faults, FaultySink, spool_faults
from tests._proxy import fault_proxy

N = 30


def batch() -> list[dict[str, Any]]:
    good = [
        envelope(
            TaskCreated(task_id=uuid.UUID(int=i + 1), user_id=uuid.UUID(int=9), command="c"),
            T0 + dt.timedelta(milliseconds=i),
        )
        for i in range(N)
    ]
    return [*good, {"timestamp": "no", "event": {"type": "task_created"}}]  # one reject


def segment_batch() -> dict[str, Any]:
    """The same events as Segment ``track`` calls (``POST /v1/batch``), and one refused."""
    good = [
        {
            "type": "track",
            "messageId": f"fault-{i}",
            "userId": str(uuid.UUID(int=9)),
            "event": "Task Created",
            "properties": {"task_id": str(uuid.UUID(int=i + 1)), "command": "c"},
            "timestamp": (T0 + dt.timedelta(milliseconds=i)).isoformat(),
        }
        for i in range(N)
    ]
    return {"batch": [*good, {"type": "no_such_call", "messageId": "refused"}]}


#: Both write routes, the seed format's and Segment's: one delivery behind them, and
#: each must keep the invariant through every failure.
ROUTES = {"/events/batch": batch, "/v1/batch": segment_batch}


async def post(url: str, route: str = "/events/batch") -> httpx.Response:
    async with httpx.AsyncClient(timeout=60) as http:
        return await http.post(
            f"{url}{route}", content=msgspec.json.encode(ROUTES[route]()), headers=AUTH
        )


@pytest.mark.parametrize("route", sorted(ROUTES))
@pytest.mark.parametrize("error", sorted(ERRORS))
@pytest.mark.parametrize("site", ["sink.open", "sink.deliver", "sink.dead_letter"])
async def test_sink_call_sites_fail_and_the_invariant_holds(  # noqa: PLR0917 - fixtures
    site: str,
    error: str,
    route: str,
    database_url: str,
    db: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    faults = Faults(site, error, times=-1)

    def faulty_make_sink(settings: Any, pool: Any) -> Any:
        return FaultySink(make_sink(settings, pool), faults)

    monkeypatch.setattr(pipeline_module, "make_sink", faulty_make_sink)
    with collector(database_url) as url:
        first = await asyncio.wait_for(post(url, route), 120)
        assert first.status_code in (200, 503), first.text
        if first.status_code == 200:
            assert first.json()["received"] == N
        faults.heal()
        retry = await asyncio.wait_for(post(url, route), 120)
        assert retry.status_code == 200, retry.text
        assert retry.json()["received"] == N and len(retry.json()["rejected"]) == 1
    assert await db.fetchval("SELECT count(*) FROM analytics_events") == N
    assert await db.fetchval("SELECT count(DISTINCT event_id) FROM analytics_events") == N
    if site == "sink.deliver":
        assert faults.raised >= 2  # both attempts of the first request failed: a 503
        assert first.status_code == 503


@pytest.mark.parametrize("route", sorted(ROUTES))
@pytest.mark.parametrize("error", sorted(e for e in ERRORS if e != "stream_full"))
@pytest.mark.parametrize("site", SPOOL_SITES)
async def test_spool_call_sites_fail_and_the_invariant_holds(  # noqa: PLR0917 - fixtures
    site: str,
    error: str,
    route: str,
    database_url: str,
    db: asyncpg.Connection,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The database is down, so the spool is the only way to a 200; its call sites fail.
    A 200 must then mean spooled for real (replayed once the database is back)."""
    host, port = server_address(database_url)
    name = database_name(database_url)
    faults = Faults(site, error, times=2)
    with fault_proxy(host, port) as proxy, spool_faults(monkeypatch, faults):
        proxy.set_mode("refuse")
        with collector(proxy.dsn(name), spool_dir=tmp_path / "spool") as url:
            first = await asyncio.wait_for(post(url, route), 120)
            assert first.status_code in (200, 503), first.text
            faults.heal()
            proxy.set_mode("pass")
            if first.status_code == 200:  # spooled: the replay must bring every row

                async def replayed() -> bool:
                    return bool(await db.fetchval("SELECT count(*) FROM analytics_events") == N)

                await wait_until(replayed, "the spool replayed", 120)
            retry = await asyncio.wait_for(post(url, route), 120)
            assert retry.status_code == 200, retry.text
    assert await db.fetchval("SELECT count(*) FROM analytics_events") == N
    assert await db.fetchval("SELECT count(DISTINCT event_id) FROM analytics_events") == N
