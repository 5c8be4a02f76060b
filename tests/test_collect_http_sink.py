"""``AnalyticsConfig(transport="http://…")``: the worker delivers through the collector
with its usual policy (retries, backoff, stats) and every event is stored once."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg
import pytest

from lib_analytics_core import AnalyticsClient, AnalyticsConfig, AnalyticsWorker, TaskCreated
from lib_analytics_core.ingest.sinks import make_sink
from lib_analytics_core.ingest.sinks.http import HttpSink
from tests._collect import TOKEN, collector
from tests._faults import database_name, server_address, wait_until
from tests._proxy import fault_proxy


def test_make_sink_picks_the_http_sink_and_hides_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANALYTICS_COLLECT_TOKEN", TOKEN)
    sink = make_sink(AnalyticsConfig(transport="http://collector:8094"), None)
    assert isinstance(sink, HttpSink)
    assert TOKEN not in repr(sink)


async def test_the_worker_delivers_through_the_collector_exactly_once_across_an_outage(
    database_url: str, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANALYTICS_COLLECT_TOKEN", TOKEN)
    host, port = server_address(database_url)
    name = database_name(database_url)
    with fault_proxy(host, port) as proxy, collector(proxy.dsn(name)) as url:
        client, cfg = AnalyticsClient.new(
            batch_size=50,
            flush_interval_secs=3600,
            transport=url,
            service_name="platform",
            initial_backoff_secs=0.01,
            max_backoff_secs=0.05,
        )
        worker = AnalyticsWorker(cfg)
        events = [
            TaskCreated(task_id=uuid.UUID(int=i + 1), user_id=uuid.uuid4(), command="x")
            for i in range(120)
        ]
        for event in events[:60]:
            client.track(event)
        assert await worker.flush(timeout=30)
        # The collector's database is unreachable for a while, and its first commit
        # after the outage is lost on the way back: the worker retries through 503s.
        proxy.cut_after_commit(times=2)
        for event in events[60:]:
            client.track(event)
        assert await worker.flush(timeout=60)
        report = await worker.shutdown(timeout=30)
        stats = worker.stats()
    assert report.lost == 0
    assert stats.retried >= 1  # the 503 was retried by the policy, not by the sink
    assert await db.fetchval("SELECT count(*) FROM analytics_events") == 120
    assert await db.fetchval("SELECT count(DISTINCT event_id) FROM analytics_events") == 120
    assert (
        await db.fetchval("SELECT count(*) FROM analytics_events WHERE service='platform'") == 120
    )


async def test_collector_unreachable_the_worker_spools_and_replays_through_http(
    database_url: str, db: asyncpg.Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same policy as the other sinks: with the collector unreachable (connections
    reset by a real TCP proxy in front of it) batches go to the worker's spool; once it
    answers they are replayed, each event stored once; the stats add up."""
    monkeypatch.setenv("ANALYTICS_COLLECT_TOKEN", TOKEN)
    with collector(database_url) as url:
        port = int(url.rsplit(":", 1)[1])
        with fault_proxy("127.0.0.1", port) as proxy:
            proxy.set_mode("refuse")
            client, cfg = AnalyticsClient.new(
                batch_size=25,
                flush_interval_secs=3600,
                transport=f"http://127.0.0.1:{proxy.port}",
                spool_dir=tmp_path / "spool",
                spool_after_failures=1,
                initial_backoff_secs=0.01,
                max_backoff_secs=0.05,
            )
            worker = AnalyticsWorker(cfg)
            run = asyncio.create_task(worker.run())
            for i in range(100):
                client.track(
                    TaskCreated(task_id=uuid.UUID(int=i + 1), user_id=uuid.uuid4(), command="x")
                )
            assert await worker.flush(timeout=60)
            assert worker.stats().spooled == 100
            assert await db.fetchval("SELECT count(*) FROM analytics_events") == 0
            proxy.set_mode("pass")
            await wait_until(lambda: worker.stats().replayed == 100, "the spool replayed", 120)
            report = await worker.shutdown(timeout=30)
            await run
    assert report.lost == 0
    assert await db.fetchval("SELECT count(DISTINCT event_id) FROM analytics_events") == 100
    assert await db.fetchval("SELECT count(*) FROM analytics_events") == 100
