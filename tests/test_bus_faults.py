"""Exactly once through the bus, under real faults: real nats-server processes, real
PostgreSQL, real processes killed with SIGKILL.

"Exactly once" is checked the same way everywhere: for each run, the stored row count,
the number of distinct event ids and the number of distinct sequence numbers all equal
the number of events tracked (``tests._faults.assert_exactly_once``).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import asyncpg
import pytest

from lib_analytics_core.bus.stream import bus_status, setup_bus
from lib_analytics_core.ingest.sinks.nats import NatsSink
from tests._bus import (
    PRODUCER,
    Producer,
    bus_for,
    count_run,
    running_ingest,
    seq_rows,
    wait_drained,
)
from tests._faults import (
    REPO,
    assert_exactly_once,
    database_name,
    proxy_for,
    spawn_script,
    wait_until,
)
from tests._nats import NatsServer, nats_cluster, nats_server

pytestmark = pytest.mark.slow


@pytest.fixture
def server() -> Iterator[NatsServer]:
    with nats_server() as s:
        yield s


def _spawn_ingest(
    database_url: str, nats_url: str, *extra: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """``analytics-ingest`` in its own process (the console script's module)."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lib_analytics_core.cli.ingest",
            "--database-url",
            database_url,
            "--nats",
            nats_url,
            "--log-level",
            "warning",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={
            **os.environ,
            "PYTHONPATH": str(REPO),
            "ANALYTICS_BUS_ACK_WAIT_SECS": "3",
            **(env or {}),
        },
    )


def _stop(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return proc.returncode, out, err


async def test_three_ingest_replicas_and_four_producer_processes_store_each_event_once(
    server: NatsServer, database_url: str, db: asyncpg.Connection
) -> None:
    bus = bus_for(server.url)
    await setup_bus(bus)
    per_producer = 5000
    replicas = [_spawn_ingest(database_url, server.url) for _ in range(3)]
    producers: list[subprocess.Popen[str]] = []
    try:
        producers = [
            spawn_script(PRODUCER, server.url, "fleet", str(k), str(per_producer), "0.002")
            for k in range(4)
        ]
        reports = []
        for p in producers:
            out, err = p.communicate(timeout=240)
            assert p.returncode == 0, err
            reports.append(json.loads(out.strip().splitlines()[-1]))
        assert all(r["written"] == per_producer and r["dropped"] == 0 for r in reports), reports
        await wait_drained(bus)
    finally:
        for p in producers:
            if p.poll() is None:
                p.kill()
                p.communicate()
        results = [_stop(r) for r in replicas]
    for code, _, err in results:
        assert code == 0, err
    stats = [json.loads(out.strip().splitlines()[-1])["analytics_ingest"] for _, out, _ in results]
    assert sum(s["rows_written"] for s in stats) >= 4 * per_producer
    assert sum(s["malformed"] for s in stats) == 0
    await assert_exactly_once(db, "fleet", 4 * per_producer)


async def test_kill_9_of_an_ingest_replica_mid_write_loses_and_duplicates_nothing(
    server: NatsServer, database_url: str, db: asyncpg.Connection
) -> None:
    """The victim writes a few batches, then its next write is caught mid-statement
    (blocked on a table lock the test holds) and the process is SIGKILLed there."""
    bus = bus_for(server.url)
    await setup_bus(bus)
    sink = NatsSink(bus)
    for k in range(2):
        await sink.deliver(seq_rows("kill9", 500, start=500 * k), redelivery=False, timeout=10)
    victim = _spawn_ingest(database_url, server.url, env={"ANALYTICS_BUS_FETCH_BATCH": "1"})
    locker = await asyncpg.connect(database_url)
    try:
        await wait_until(lambda: _at_least(db, 1000), "the victim to write some batches", 60)
        await wait_drained(bus)
        tx = locker.transaction()
        await tx.start()
        await locker.execute("LOCK TABLE analytics_events IN EXCLUSIVE MODE")
        for k in range(2, 30):
            await sink.deliver(seq_rows("kill9", 500, start=500 * k), redelivery=False, timeout=10)

        async def write_blocked() -> bool:
            n = await db.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> $1",
                locker.get_server_pid(),
            )
            return bool(n)

        await wait_until(write_blocked, "the victim's write to be in progress", 60)
        assert (await bus_status(bus)).ack_pending >= 1  # it holds unacknowledged messages
        victim.kill()  # SIGKILL mid-write: no commit, no ack, no goodbye
        victim.communicate(timeout=30)
        await tx.rollback()
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.communicate()
        await locker.close()
        await sink.close()
    # It wrote two batches, then died mid-write. A statement the server had whole before
    # the lock was released may still commit after its client died (PostgreSQL notices
    # the dead socket only when it answers): then that batch is stored, unacknowledged,
    # and its redelivery below must not store it twice.
    assert await count_run(db, "kill9") in (1000, 1500)
    async with running_ingest(database_url, bus) as rescuer:
        await wait_drained(bus)
        stats = rescuer.stats()
    assert stats.redelivered_messages >= 1  # what the victim held came back
    await assert_exactly_once(db, "kill9", 15000)


async def _at_least(db: asyncpg.Connection, n: int) -> bool:
    return await count_run(db, "kill9") >= n


async def test_commit_without_ack_is_redelivered_and_stored_once(
    server: NatsServer, admin_url: str, database_url: str, db: asyncpg.Connection
) -> None:
    """The worst moment: PostgreSQL committed, the replica never heard (connection cut
    right after the commit), so it cannot ack. The batch comes back and is not stored twice."""
    bus = bus_for(server.url)
    await setup_bus(bus)
    sink = NatsSink(bus)
    try:
        await sink.deliver(seq_rows("unknown", 1000), redelivery=False, timeout=10)
    finally:
        await sink.close()
    with proxy_for(admin_url) as proxy:
        proxy.cut_after_commit()
        async with running_ingest(proxy.dsn(database_name(database_url)), bus) as service:
            await wait_drained(bus)
            stats = service.stats()
        assert proxy.commits_cut == 1
    assert stats.failed_batches >= 1 and stats.redelivered_messages >= 1
    await assert_exactly_once(db, "unknown", 1000)


async def test_database_down_30s_while_producers_track_the_stream_holds_the_backlog(
    server: NatsServer, admin_url: str, database_url: str, db: asyncpg.Connection
) -> None:
    bus = bus_for(server.url)
    await setup_bus(bus)
    with proxy_for(admin_url) as proxy:
        dsn = proxy.dsn(database_name(database_url))
        async with running_ingest(dsn, bus) as service:
            producer = Producer(server.url, "outage").start()
            await producer.track(2000)
            await wait_until(
                lambda: service.stats().rows_written > 0, "ingest writing before the outage"
            )
            proxy.set_mode("refuse")
            proxy.cut()
            loop = asyncio.get_running_loop()
            down_until = loop.time() + 30
            await asyncio.sleep(1.0)  # a commit racing the cut has landed by now
            stored_at_outage = await count_run(db, "outage")
            while loop.time() < down_until:
                await producer.track(500, pace=0.02)  # producers keep tracking
            await producer.finish()  # every event acknowledged by the stream
            during = service.stats()
            status = await bus_status(bus)
            assert not during.healthy and during.failed_batches >= 1
            assert status.messages > 0  # the backlog is in the stream ...
            # ... and nothing reached the database while it was down.
            assert await count_run(db, "outage") == stored_at_outage < producer.tracked
            proxy.set_mode("pass")
            await wait_drained(bus, limit=180)
            assert service.stats().healthy
    await assert_exactly_once(db, "outage", producer.tracked)


async def test_a_nats_node_killed_and_restarted_in_an_r3_cluster_loses_and_duplicates_nothing(
    database_url: str, db: asyncpg.Connection
) -> None:
    with nats_cluster(3) as nodes:
        transport = ",".join(n.url for n in nodes)
        bus = bus_for(transport)

        async def ready() -> bool:
            try:
                status = await setup_bus(bus)
            except Exception:
                return False
            return status.replicas == 3

        await wait_until(ready, "an R3 stream on the cluster", 60)
        async with running_ingest(database_url, bus) as service:
            producer = Producer(transport, "r3").start()
            await producer.track(3000)
            await wait_until(lambda: service.stats().rows_written > 0, "ingest writing")
            leader = (await bus_status(bus)).cluster_leader
            victim = next(n for n in nodes if n.name == leader)
            victim.kill()  # the stream's leader, SIGKILL, mid-stream
            await producer.track(3000)

            async def new_leader() -> bool:
                try:
                    return (await bus_status(bus)).cluster_leader not in (None, leader)
                except Exception:
                    return False

            await wait_until(new_leader, "a new stream leader", 60)
            victim.start()  # same ports, same storage: it rejoins and catches up
            await producer.track(3000)
            await producer.finish()

            async def caught_up() -> bool:
                try:
                    return (await bus_status(bus)).replicas_current == 2
                except Exception:
                    return False

            await wait_until(caught_up, "the restarted node to catch up", 120)
            await wait_drained(bus, limit=180)
    await assert_exactly_once(db, "r3", producer.tracked)
