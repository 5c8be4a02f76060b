"""The durable spool: SIGKILL while the database is down, then replay exactly once;
corrupt and truncated segments; processes sharing a directory; the size cap."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import signal
import uuid
from pathlib import Path

import asyncpg
import pytest

from lib_analytics_core import AnalyticsClient, AnalyticsWorker
from lib_analytics_core.ingest.spool import Spool
from tests._faults import (
    SeqEvent,
    assert_exactly_once,
    database_name,
    proxy_for,
    seq_summary,
    spawn_script,
    wait_until,
)

# The child: spool on, database unreachable (a proxy refusing every connection).
# It tracks N events, waits until all are fsync'd in the spool, says so, and waits to
# be killed. With N < 0 it tracks forever (killed at an arbitrary point).
CHILD = r"""
import sys, time
from pathlib import Path
from lib_analytics_core import AnalyticsClient, AnalyticsWorker
from tests._faults import SeqEvent

dsn, spool_dir, run, n = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
client, cfg = AnalyticsClient.new(
    batch_size=100, flush_interval_secs=0.05, spool_dir=spool_dir,
    spool_after_failures=1, initial_backoff_secs=0.02, max_backoff_secs=0.2,
    write_timeout_secs=1,
)
worker = AnalyticsWorker.start_in_thread(cfg, dsn)
if n >= 0:
    for seq in range(n):
        client.track(SeqEvent(run=run, seq=seq))
    while worker.stats().spooled < n:
        time.sleep(0.01)
    print("SPOOLED", worker.stats().spooled, flush=True)
else:
    seq = 0
    while True:
        client.track(SeqEvent(run=run, seq=seq))
        seq += 1
        if seq % 50 == 0:
            time.sleep(0.005)
        if seq == 3000:
            print("STREAMING", flush=True)
time.sleep(3600)
"""


async def _replay(database_url: str, spool_dir: Path) -> AnalyticsWorker:
    _client, cfg = AnalyticsClient.new(
        batch_size=100, flush_interval_secs=3600, spool_dir=spool_dir
    )
    worker = AnalyticsWorker(cfg, database_url)
    run = asyncio.create_task(worker.run())
    await wait_until(lambda: not list(spool_dir.glob("spool-*.seg")), "the spool to drain")
    await worker.shutdown(30)
    await run
    return worker


async def test_sigkill_with_the_database_down_then_replay_exactly_once(
    admin_url: str, database_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    spool_dir = tmp_path / "spool"
    n = 2_000
    with proxy_for(admin_url) as proxy:
        proxy.set_mode("refuse")
        child = spawn_script(
            CHILD, proxy.dsn(database_name(database_url)), str(spool_dir), "killed", str(n)
        )
        try:
            assert child.stdout is not None
            line = await asyncio.wait_for(asyncio.to_thread(child.stdout.readline), 120)
            assert line.split() == ["SPOOLED", str(n)], child.stderr.read() if child.stderr else ""
            child.send_signal(signal.SIGKILL)
        finally:
            child.kill()
            child.wait(60)
            child.stdout and child.stdout.close()
            child.stderr and child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    assert await seq_summary(db, "killed") == {"n": 0, "ids": 0, "seqs": 0, "lo": None, "hi": None}
    worker = await _replay(database_url, spool_dir)
    await assert_exactly_once(db, "killed", n)
    assert worker.stats().replayed == n


@pytest.mark.slow
async def test_sigkill_mid_stream_during_an_outage_leaves_a_gapless_prefix(
    admin_url: str, database_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    spool_dir = tmp_path / "spool"
    with proxy_for(admin_url) as proxy:
        child = spawn_script(
            CHILD, proxy.dsn(database_name(database_url)), str(spool_dir), "stream", "-1"
        )
        try:
            assert child.stdout is not None
            line = await asyncio.wait_for(asyncio.to_thread(child.stdout.readline), 120)
            assert line.strip() == "STREAMING"
            await wait_until(_has_rows(db, "stream"), "some rows written before the outage")
            proxy.cut()
            proxy.set_mode("refuse")
            await wait_until(lambda: any(spool_dir.glob("spool-*.seg")), "spooling to start")
            await asyncio.sleep(0.3)  # let the spool grow; the kill point is arbitrary
            child.send_signal(signal.SIGKILL)
        finally:
            child.kill()
            child.wait(60)
            child.stdout and child.stdout.close()
            child.stderr and child.stderr.close()
    before = await seq_summary(db, "stream")
    worker = await _replay(database_url, spool_dir)
    after = await seq_summary(db, "stream")
    # Only what was still in memory at the kill is missing, and that is always the
    # newest events: the stored rows are exactly seq 0..k-1, each once.
    k = after["n"]
    assert after == {"n": k, "ids": k, "seqs": k, "lo": 0, "hi": k - 1}
    # A batch cut after its commit was spooled too (its outcome was unknown), so replay
    # may re-send rows already stored: idempotent, hence ">=" here and exactly-once above.
    assert k > before["n"] and worker.stats().replayed >= k - before["n"]


def _has_rows(db: asyncpg.Connection, run: str):  # type: ignore[no-untyped-def]
    async def check() -> bool:
        return bool((await seq_summary(db, run))["n"] > 0)

    return check


def _rows(run: str, start: int, n: int) -> list[tuple[object, ...]]:
    now = dt.datetime.now(dt.UTC)
    return [
        (
            now,
            uuid.uuid4(),
            "reliability_seq",
            "svc",
            None,
            f'{{"run": "{run}", "seq": {seq}, "_meta": {{"host": "h"}}}}',
        )
        for seq in range(start, start + n)
    ]


async def test_corrupt_and_truncated_records_are_reported_and_the_rest_replayed(
    database_url: str, db: asyncpg.Connection, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool_dir = tmp_path / "spool"
    spool = Spool(spool_dir, max_bytes=10_000_000)
    for batch in range(5):
        assert spool.append(_rows("corrupt", batch * 100, 100))  # type: ignore[arg-type]
    spool.close()
    [segment] = list(spool_dir.glob("spool-*.seg"))
    data = bytearray(segment.read_bytes())
    record = len(data) // 5  # records have equal size here
    data[record + record // 2] ^= 0xFF  # flip a payload byte of record 2: bad checksum
    del data[-record // 3 :]  # tear the last record (a crash mid-append)
    segment.write_bytes(bytes(data))

    caplog.set_level(logging.ERROR, "lib_analytics_core")
    worker = await _replay(database_url, spool_dir)
    got = await seq_summary(db, "corrupt")
    assert (got["n"], got["ids"], got["seqs"]) == (300, 300, 300)
    seqs = {
        r[0]
        for r in await db.fetch(
            "SELECT (data->>'seq')::int FROM analytics_events WHERE data->>'run' = 'corrupt'"
        )
    }
    assert seqs == set(range(0, 100)) | set(range(200, 400))
    stats = worker.stats()
    assert stats.replayed == 300 and stats.spool_corrupt == 2
    assert [p.suffix for p in spool_dir.iterdir()] == [".corrupt"]  # kept for inspection
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "checksum mismatch" in messages and "corrupt record(s)" in messages


def test_a_live_segment_of_another_process_is_never_claimed_or_deleted(tmp_path: Path) -> None:
    writer = Spool(tmp_path, max_bytes=10_000_000)
    assert writer.append(_rows("shared", 0, 10))  # type: ignore[arg-type]
    reader = Spool(tmp_path, max_bytes=10_000_000)  # another process sharing the dir
    [live] = reader.segments()
    assert reader.claim(live) is None  # its writer holds the flock
    assert live.exists()
    writer.close()  # rotated: now replayable
    claim = reader.claim(live)
    assert claim is not None
    assert [len(rows) for _, rows in claim.records()] == [10]
    claim.finish()
    assert not live.exists()


async def test_full_spool_keeps_the_batch_in_memory_and_reports_the_loss(
    database_url: str, tmp_path: Path, admin_url: str
) -> None:
    with proxy_for(admin_url) as proxy:
        proxy.set_mode("refuse")
        _client, cfg = AnalyticsClient.new(
            batch_size=100,
            flush_interval_secs=3600,
            spool_dir=tmp_path,
            spool_max_bytes=4096,
            spool_after_failures=1,
            initial_backoff_secs=0.01,
            max_backoff_secs=0.05,
        )
        worker = AnalyticsWorker(cfg, proxy.dsn(database_name(database_url)))
        for seq in range(100):
            _client.track(SeqEvent(run="cap", seq=seq))
        report = await worker.shutdown(0.5)
    assert (report.spooled, report.lost) == (0, 100)
    assert worker.stats().spool_bytes == 0
