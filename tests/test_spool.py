"""The durable spool: SIGKILL while the database is down, then replay exactly once;
corrupt and truncated segments; processes sharing a directory; the size cap."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import signal
import time
import uuid
from collections import Counter
from pathlib import Path

import asyncpg
import pytest

from lib_analytics_core import AnalyticsClient, AnalyticsWorker
from lib_analytics_core.ingest import rows as rows_module
from lib_analytics_core.ingest import spool as spool_module
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


def _spool_records(spool_dir: Path) -> int:
    """Complete records in the spool's segments. Not bytes: a segment becomes visible
    empty (created, locked, renamed) before its first record is written, so "twice the
    first size seen" could be met by the first record alone (this test failed so)."""
    total = 0
    for seg in spool_dir.glob("spool-*.seg"):
        try:
            data = seg.read_bytes()
        except FileNotFoundError:  # replayed and removed meanwhile
            continue
        pos = 0
        while pos + spool_module._HEADER.size <= len(data):
            magic, length, _crc = spool_module._HEADER.unpack_from(data, pos)
            end = pos + spool_module._HEADER.size + length
            if magic != spool_module._MAGIC or end > len(data):
                break  # a record still being written
            total += 1
            pos = end
    return total


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
            # Let the spool hold a batch past the first (which may be one already stored:
            # a batch cut after its commit is spooled too) before the kill; the kill
            # point is otherwise arbitrary. A condition, not a pause: on a busy machine
            # the child may spool nothing new for a long time.
            await wait_until(lambda: _spool_records(spool_dir) >= 2, "a second spooled batch")
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


# -- processes appending while segments rotate and are replayed ----------------------

APPENDER = r"""
import datetime as dt, fcntl, sys, time, uuid
from pathlib import Path
import lib_analytics_core.ingest.spool as spool_module
from lib_analytics_core.ingest.spool import Spool

directory, tag, n = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
spool_module._SEGMENT_MAX_BYTES = 1  # every append closes its segment: constant rotation
real_flock = fcntl.flock

def slow_flock(fd, op):
    # Widen the window between a new segment's creation and its lock, as a busy
    # machine does at random: a replayer must never get into it.
    if op & fcntl.LOCK_EX and op & fcntl.LOCK_NB:
        time.sleep(0.003)
    return real_flock(fd, op)

fcntl.flock = slow_flock
spool = Spool(directory, max_bytes=1 << 30)
ok = 0
for i in range(n):
    row = (dt.datetime.now(dt.UTC), uuid.uuid4(), "race", tag, None, '{"i": %d}' % i)
    ok += spool.append([row])
spool.close()
print(ok, flush=True)
"""


def _replay_pass(replayer: Spool, seen: Counter[tuple[str, str]]) -> None:
    for path in replayer.segments():
        claim = replayer.claim(path)
        if claim is None:
            continue
        try:
            for _, rows in claim.records():
                for row in rows:
                    seen[(row[3], row[5])] += 1
            claim.finish()
        finally:
            claim.release()


def test_processes_appending_while_segments_rotate_lose_and_repeat_nothing(
    tmp_path: Path,
) -> None:
    """Issue 13: a segment must be locked before any other process can see it."""
    n = 300
    procs = [spawn_script(APPENDER, str(tmp_path), f"p{k}", str(n)) for k in range(2)]
    replayer = Spool(tmp_path, max_bytes=1 << 30)
    seen: Counter[tuple[str, str]] = Counter()
    while any(p.poll() is None for p in procs):
        _replay_pass(replayer, seen)
    _replay_pass(replayer, seen)
    appended = 0
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        appended += int(out.split()[-1])
    assert appended == 2 * n, "an append failed: a replayer held a segment being created"
    assert sum(seen.values()) == appended, "appends went to a segment already replayed"
    assert set(seen.values()) == {1}
    assert not list(tmp_path.glob("spool-*"))


def test_resuming_a_segment_does_not_decode_what_was_already_replayed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 13: each resume used to re-read and re-decode the segment from its start."""
    spool = Spool(tmp_path, max_bytes=1 << 30)
    for k in range(50):
        assert spool.append(_rows("resume", k, 1))  # type: ignore[arg-type]
    spool.close()
    decodes = 0
    real = rows_module.decode_rows

    def counting(payload: bytes) -> object:
        nonlocal decodes
        decodes += 1
        return real(payload)

    monkeypatch.setattr(spool_module, "decode_rows", counting)
    [path] = spool.segments()
    got: list[int] = []
    for start in range(0, 50, 10):  # five outages: each replay pass stops after 10
        claim = spool.claim(path)
        assert claim is not None
        for index, _ in claim.records(start):
            got.append(index)
            if index == start + 9:
                break
        claim.release()
    assert got == list(range(50))
    assert decodes == 50


async def test_spooling_and_replay_never_stall_the_event_loop(
    database_url: str,
    db: asyncpg.Connection,
    tmp_path: Path,
    admin_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 13: a loop-lag probe while the worker spools and replays on a slow disk
    (every fsync takes 200 ms here): the application's loop must not feel it."""
    real_fsync = os.fsync

    def slow_fsync(fd: int) -> None:
        time.sleep(0.2)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", slow_fsync)
    loop = asyncio.get_running_loop()
    lags: list[float] = []

    async def probe() -> None:
        while True:
            before = loop.time()
            await asyncio.sleep(0.005)
            lags.append(loop.time() - before - 0.005)

    with proxy_for(admin_url) as proxy:
        proxy.set_mode("refuse")
        client, cfg = AnalyticsClient.new(
            batch_size=100,
            flush_interval_secs=0.05,
            spool_dir=tmp_path / "spool",
            spool_after_failures=1,
            initial_backoff_secs=0.02,
            max_backoff_secs=0.1,
            write_timeout_secs=2,
        )
        worker = AnalyticsWorker(cfg, proxy.dsn(database_name(database_url)))
        run = asyncio.create_task(worker.run())
        prober = asyncio.create_task(probe())
        for seq in range(500):
            client.track(SeqEvent(run="lag", seq=seq))
        await wait_until(lambda: worker.stats().spooled == 500, "everything spooled")
        proxy.set_mode("pass")
        await wait_until(lambda: worker.stats().replayed == 500, "everything replayed")
        prober.cancel()
        await worker.shutdown(30)
        await run
    await assert_exactly_once(db, "lag", 500)
    assert len(lags) > 10
    # Below one injected fsync (200 ms), with room for a busy machine's scheduling.
    assert max(lags) < 0.15, f"the event loop stalled for {max(lags) * 1000:.0f} ms"
