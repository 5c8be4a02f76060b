"""The write path end to end on a real PostgreSQL: client -> worker -> analytics_events."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import msgspec
import pytest

import lib_analytics_core as lac
from lib_analytics_core import (
    AnalyticsClient,
    AnalyticsEvent,
    AnalyticsWorker,
    ApiRequest,
    TaskCreated,
)
from tests._factories import build

WRITE_METHODS = ["copy", "insert"]


async def count_rows(conn: asyncpg.Connection, table: str = "analytics_events") -> int:
    return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))


async def wait_until(
    predicate: Callable[[], Awaitable[bool]], what: str, limit: float = 30.0
) -> None:
    """Poll until ``predicate`` holds. The limit only bounds a hung test; it asserts no speed."""
    deadline = time.monotonic() + limit
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for: {what}")
        await asyncio.sleep(0.01)


def task_event(i: int = 0, user: uuid.UUID | None = None) -> TaskCreated:
    return TaskCreated(task_id=uuid.uuid4(), user_id=user or uuid.uuid4(), command=f"cmd {i}")


@pytest.mark.parametrize("method", WRITE_METHODS)
async def test_every_event_class_round_trips_to_a_row(
    database_url: str, db: asyncpg.Connection, method: str
) -> None:
    client, cfg = AnalyticsClient.new(
        batch_size=1000,
        flush_interval_secs=3600,
        service_name="platform",
        write_method=method,
        before_track=None,  # every field stored as built (the default drops the email)
    )
    worker = AnalyticsWorker(cfg, database_url)
    run = asyncio.create_task(worker.run())
    events = [build(cls, seed=i) for i, cls in enumerate(AnalyticsEvent.ALL)]
    before = dt.datetime.now(dt.UTC)
    for event in events:
        client.track(event)
    after = dt.datetime.now(dt.UTC)
    report = await worker.shutdown(timeout=30)
    await run
    assert report.written == len(events) and report.lost == 0

    rows = await db.fetch(
        "SELECT timestamp, event_id, event_type, service, user_id, data::text AS data "
        "FROM analytics_events ORDER BY event_id"
    )
    assert len(rows) == len(events)
    # UUIDv7 ids sort in tracking order
    for event, row in zip(events, rows, strict=True):
        assert row["event_type"] == event.event_type
        expected_service = getattr(event, "service", None) or "platform"
        assert row["service"] == expected_service
        assert row["user_id"] == event.concerned_user_id
        assert before - dt.timedelta(milliseconds=1) <= row["timestamp"] <= after
        assert row["event_id"].version == 7
        # data leaves user_id/service to their columns (issue 18): decoding takes them back
        assert (
            lac.decode_event(
                row["event_type"], row["data"], user_id=row["user_id"], service=row["service"]
            )
            == event
        )
        enriched = lac.EnrichedEvent.from_record(row)
        assert enriched.event == event and enriched.event_id == row["event_id"]
        meta = msgspec.json.decode(row["data"])["_meta"]
        assert meta["host"] == cfg.settings.hostname


async def test_size_triggered_flush_writes_without_waiting_for_the_interval(
    database_url: str, db: asyncpg.Connection
) -> None:
    client, cfg = AnalyticsClient.new(batch_size=50, flush_interval_secs=3600)
    worker = AnalyticsWorker(cfg, database_url)
    run = asyncio.create_task(worker.run())
    try:
        for i in range(49):
            client.track(task_event(i))
        await asyncio.sleep(0.2)
        assert await count_rows(db) == 0, "49 < batch_size and the interval is an hour"
        client.track(task_event(49))
        await wait_until(lambda: _eq(count_rows(db), 50), "a full batch to be written")
        await wait_until(lambda: _is(worker.stats().batches, 1), "the write to be counted")
    finally:
        await worker.shutdown(10)
        await run


async def test_time_triggered_flush_writes_a_partial_batch(
    database_url: str, db: asyncpg.Connection
) -> None:
    client, cfg = AnalyticsClient.new(batch_size=5_000, flush_interval_secs=0.2)
    worker = AnalyticsWorker(cfg, database_url)
    run = asyncio.create_task(worker.run())
    try:
        for i in range(3):
            client.track(task_event(i))
        await wait_until(lambda: _eq(count_rows(db), 3), "the interval flush")
        # The rows are visible once committed; the worker counts them once the sink has
        # also returned its connection to the pool (a round trip later).
        await wait_until(lambda: _is(worker.stats().written, 3), "the write to be counted")
        stats = worker.stats()
        assert stats.written == 3 and stats.batches == 1 and stats.queue_depth == 0
    finally:
        await worker.shutdown(10)
        await run


async def _eq(value: Awaitable[int], expected: int) -> bool:
    return await value == expected


async def _is(value: int, expected: int) -> bool:
    return value == expected


async def test_threads_and_tasks_track_concurrently_exactly_once(
    database_url: str, db: asyncpg.Connection
) -> None:
    per_producer = 10_000
    client, cfg = AnalyticsClient.new(
        batch_size=500, flush_interval_secs=0.5, queue_capacity=200_000
    )
    worker = AnalyticsWorker(cfg, database_url)
    run = asyncio.create_task(worker.run())

    def thread_producer(k: int) -> None:
        user = uuid.UUID(int=k + 1)
        for i in range(per_producer):
            client.track(task_event(i, user))

    async def task_producer(k: int) -> None:
        user = uuid.UUID(int=1000 + k)
        for i in range(per_producer):
            client.track(task_event(i, user))
            if i % 500 == 0:
                await asyncio.sleep(0)

    threads = [threading.Thread(target=thread_producer, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    await asyncio.gather(*(task_producer(k) for k in range(8)))
    for t in threads:
        await asyncio.to_thread(t.join)
    report = await worker.shutdown(60)
    await run

    assert report.lost == 0
    total = 16 * per_producer
    row = await db.fetchrow(
        "SELECT count(*) AS n, count(DISTINCT event_id) AS ids, count(DISTINCT user_id) AS users "
        "FROM analytics_events"
    )
    assert row is not None
    assert (row["n"], row["ids"], row["users"]) == (total, total, 16)
    per_user = await db.fetch("SELECT user_id, count(*) AS n FROM analytics_events GROUP BY 1")
    assert {r["n"] for r in per_user} == {per_producer}
    stats = worker.stats()
    assert stats.written == total and stats.dropped == 0 and stats.tracked == total


async def test_shutdown_writes_everything_still_queued(
    database_url: str, db: asyncpg.Connection
) -> None:
    client, cfg = AnalyticsClient.new(batch_size=5_000, flush_interval_secs=3600)
    worker = AnalyticsWorker(cfg, database_url)
    run = asyncio.create_task(worker.run())
    await asyncio.sleep(0)
    for i in range(4_999):
        client.track(task_event(i))
    assert client.queue_depth == 4_999
    report = await worker.shutdown(timeout=30)
    await run
    assert report == lac.ShutdownReport(written=4_999, spooled=0, lost=0, timed_out=False)
    assert await count_rows(db) == 4_999
    # idempotent
    again = await worker.shutdown(timeout=1)
    assert again.written == 0


async def test_cancelling_the_worker_task_is_a_graceful_stop(
    database_url: str, db: asyncpg.Connection
) -> None:
    client, cfg = AnalyticsClient.new(batch_size=1000, flush_interval_secs=3600)
    worker = AnalyticsWorker(cfg, database_url)
    run = asyncio.create_task(worker.run())
    await asyncio.sleep(0.05)
    for i in range(250):
        client.track(task_event(i))
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert await count_rows(db) == 250


async def test_explicit_flush_and_flush_without_running_worker(
    database_url: str, db: asyncpg.Connection
) -> None:
    client, cfg = AnalyticsClient.new(batch_size=1000, flush_interval_secs=3600)
    worker = AnalyticsWorker(cfg, database_url)
    for i in range(10):
        client.track(task_event(i))
    assert await worker.flush(timeout=30) is True  # no run(): flushes inline
    assert await count_rows(db) == 10
    run = asyncio.create_task(worker.run())
    for i in range(7):
        client.track(task_event(i))
    assert await worker.flush(timeout=30) is True
    assert await count_rows(db) == 17
    await worker.shutdown(5)
    await run


@pytest.mark.parametrize("method", WRITE_METHODS)
async def test_a_value_the_database_refuses_is_dead_lettered_and_the_rest_stored(
    database_url: str, db: asyncpg.Connection, method: str
) -> None:
    client, cfg = AnalyticsClient.new(batch_size=100, flush_interval_secs=3600, write_method=method)
    worker = AnalyticsWorker(cfg, database_url)
    bad_positions = {13, 71}
    for i in range(100):
        if i in bad_positions:
            # jsonb refuses \u0000; the writer cannot know that before the server says so
            client.track(
                ApiRequest(
                    service="api",
                    method="GET",
                    endpoint=f"/nul\x00{i}",
                    status_code=200,
                    duration_ms=1,
                )
            )
        else:
            client.track(task_event(i))
    assert await worker.flush(30)
    assert await count_rows(db) == 98
    dead = await db.fetch("SELECT event_type, payload, error, sqlstate FROM analytics_dead_letters")
    assert len(dead) == 2
    assert {r["sqlstate"] for r in dead} == {"22P05"}
    assert all("\\u0000" in r["payload"] and "Unicode" in r["error"] for r in dead)
    stats = worker.stats()
    assert (stats.written, stats.rejected) == (98, 2)
    assert len(worker.recent_rejections()) == 2


async def test_events_refused_by_the_library_are_dead_lettered_with_a_reason(
    database_url: str, db: asyncpg.Connection
) -> None:
    client, cfg = AnalyticsClient.new(
        batch_size=100, flush_interval_secs=3600, max_event_bytes=2048
    )
    worker = AnalyticsWorker(cfg, database_url)
    client.track(task_event(1))
    client.track(TaskCreated(task_id=uuid.uuid4(), user_id=uuid.uuid4(), command="x" * 5000))
    client.track("not an event")  # type: ignore[arg-type]
    client.track(task_event(2))
    assert await worker.flush(30)
    assert await count_rows(db) == 2
    reasons = sorted(r["error"] for r in await db.fetch("SELECT error FROM analytics_dead_letters"))
    assert len(reasons) == 2
    assert reasons[0].startswith("could not encode event")
    assert reasons[1].startswith("event too large")


async def test_sync_app_uses_a_worker_thread(database_url: str, db: asyncpg.Connection) -> None:
    client, cfg = AnalyticsClient.new(batch_size=100, flush_interval_secs=3600)

    def sync_app() -> tuple[bool, lac.ShutdownReport, lac.WorkerStats]:
        threaded = AnalyticsWorker.start_in_thread(cfg, database_url, register_atexit=False)
        assert threaded.alive

        def handler(k: int) -> None:
            for i in range(300 + k):
                client.track(task_event(i))

        handlers = [threading.Thread(target=handler, args=(k,)) for k in range(4)]
        for h in handlers:
            h.start()
        for h in handlers:
            h.join()
        flushed = threaded.flush(timeout=30)
        stats_after_flush = threaded.stats()
        for i in range(5):
            client.track(task_event(i))
        return flushed, threaded.shutdown(timeout=30), stats_after_flush

    flushed, report, stats = await asyncio.to_thread(sync_app)
    assert flushed is True
    assert stats.written == 300 * 4 + 6
    assert report.written == 5 and report.lost == 0
    assert await count_rows(db) == 300 * 4 + 6 + 5


async def test_pool_argument_is_borrowed_not_closed(
    database_url: str, db: asyncpg.Connection
) -> None:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    assert pool is not None
    try:
        client, cfg = AnalyticsClient.new(batch_size=10, flush_interval_secs=3600)
        worker = AnalyticsWorker(cfg, pool)
        run = asyncio.create_task(worker.run())
        for i in range(25):
            client.track(task_event(i))
        await worker.shutdown(10)
        await run
        assert await pool.fetchval("SELECT count(*) FROM analytics_events") == 25
    finally:
        await pool.close()


def test_track_never_raises_and_counts_drops_when_the_queue_is_full() -> None:
    client, cfg = AnalyticsClient.new(
        batch_size=5, flush_interval_secs=1, queue_capacity=10, max_batch_size=10
    )
    worker = AnalyticsWorker(cfg, "postgresql://nobody@127.0.0.1:1/none")
    for i in range(15):
        client.track(task_event(i))
    stats = worker.stats()
    assert (stats.queue_depth, stats.dropped, stats.tracked) == (10, 5, 15)
    assert client.dropped == 5


def test_noop_client_and_track_if() -> None:
    noop = lac.NoopClient()
    noop.track(task_event())
    assert noop.queue_depth == 0
    client, _ = AnalyticsClient.new()
    client.track_if(False, task_event())
    client.track_if(True, task_event())
    assert client.queue_depth == 1
    disabled, _ = AnalyticsClient.new(enabled=False)
    disabled.track(task_event())
    assert disabled.queue_depth == 0


async def test_track_at_keeps_the_given_time(database_url: str, db: asyncpg.Connection) -> None:
    client, cfg = AnalyticsClient.new(batch_size=10, flush_interval_secs=3600)
    worker = AnalyticsWorker(cfg, database_url)
    when = dt.datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=dt.UTC)
    client.track_at(task_event(), when)
    with pytest.raises(lac.ConfigurationError):
        client.track_at(task_event(), dt.datetime(2026, 3, 1))
    await worker.flush(10)
    assert await db.fetchval("SELECT timestamp FROM analytics_events") == when


async def test_worker_refuses_to_run_twice(database_url: str) -> None:
    _, cfg = AnalyticsClient.new()
    worker = AnalyticsWorker(cfg, database_url)
    run = asyncio.create_task(worker.run())
    await asyncio.sleep(0.05)
    with pytest.raises(lac.WorkerError):
        await worker.run()
    await worker.shutdown(5)
    await run


def test_worker_needs_a_worker_config() -> None:
    with pytest.raises(lac.WorkerError):
        AnalyticsWorker(lac.AnalyticsConfig(), "postgresql://x")  # type: ignore[arg-type]


_: Any = None


def test_stopped_thread_hosts_do_not_accumulate_in_the_fork_registry(database_url: str) -> None:
    """Issue 13: every ThreadedWorker ever started stayed in the fork registry."""
    import gc

    from lib_analytics_core.ingest import fork as registry_module

    before = len(registry_module._THREADED)
    for _ in range(20):
        _client, cfg = AnalyticsClient.new(batch_size=10, flush_interval_secs=3600)
        threaded = AnalyticsWorker.start_in_thread(cfg, database_url, register_atexit=False)
        threaded.shutdown(5)
        del threaded
    gc.collect()
    assert len(registry_module._THREADED) <= before + 1


def test_a_failing_waker_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    """Issue 13: a waker that raised was dropped silently (the worker then only wakes on
    its own timer, and nobody learns why it became slow)."""
    client, cfg = AnalyticsClient.new(batch_size=1, flush_interval_secs=3600)

    def broken() -> None:
        raise RuntimeError("loop closed")

    cfg.channel.set_waker(broken)
    caplog.set_level(logging.WARNING, "lib_analytics_core")
    client.track(task_event())  # must not raise
    assert any(
        "waker" in r.getMessage() and "loop closed" in r.getMessage() for r in caplog.records
    )
