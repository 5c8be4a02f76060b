"""Every I/O call site of the direct write path failing in turn with every error class.

The real worker, the real spool (on a temporary directory) and an in-memory sink on a
virtual clock; :mod:`tests._inject` makes one call site raise one error class for a
while, during an outage (so the spool is in use) and after it. Whatever fails, these
must hold at every step and at the end:

* ``tracked = stored + dead-lettered + dropped + spooled-pending (+ in the pipeline)``
  (:func:`adds_up`), with nothing negative;
* memory stays bounded: at most two batches between ``take()`` and their outcome;
* every batch is released exactly once: each stored row is counted once (``written +
  replayed`` equals the rows the sink holds), nothing is both stored and dead-lettered,
  and after shutdown nothing is in flight;
* the worker's task ends (nothing wedges).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import msgspec
import pytest

from lib_analytics_core import AnalyticsClient, AnalyticsWorker
from lib_analytics_core.ingest.spool import Spool
from tests._inject import ERRORS, SINK_SITES, SPOOL_SITES, Faults, FaultySink, spool_faults
from tests.unit._fakes import FakeClock, FakeSink
from tests.unit.test_worker_unit import adds_up, track

BATCH = 10


def _seq(data: str) -> int:
    return int(msgspec.json.decode(data)["seq"])


def spooled_pending(spool_dir: Path) -> int:
    """Rows still on disk in replayable segments (read with the spool's own reader)."""
    spool = Spool(spool_dir, max_bytes=1 << 30)
    n = 0
    for path in spool.segments() if spool_dir.exists() else []:
        claim = spool.claim(path)
        if claim is None:
            continue
        try:
            n += sum(len(rows) for _, rows in claim.records())
        finally:
            claim.release()
    return n


def check_step(worker: AnalyticsWorker) -> None:
    s = worker.stats()
    assert adds_up(s), s
    assert min(s.written, s.spooled, s.in_flight, s.queue_depth, s.lost, s.rejected) >= 0, s
    assert s.in_flight <= 2 * worker.settings.max_batch_size, s  # bounded memory


async def exercise(
    tmp_path: Path, faults: Faults, *, spool: bool = True
) -> tuple[AnalyticsWorker, FakeSink, Any]:
    client, cfg = AnalyticsClient.new(
        batch_size=BATCH,
        max_batch_size=BATCH,
        flush_interval_secs=1.0,
        spool_dir=tmp_path / "spool" if spool else None,
        spool_after_failures=1,
        initial_backoff_secs=0.5,
        max_backoff_secs=2.0,
    )
    clock = FakeClock()
    fake = FakeSink(clock)
    fake.refuse = lambda row: _seq(row[5]) % 13 == 5
    worker = AnalyticsWorker(cfg, sink=FaultySink(fake, faults), clock=clock)
    task = asyncio.create_task(worker.run())
    fake.down = True  # an outage first: batches go to the spool
    sent = 0
    for _ in range(6):
        track(client, BATCH, start=sent)
        sent += BATCH
        await clock.advance(1.5)
        check_step(worker)
    fake.down = False
    for _ in range(6):
        track(client, BATCH, start=sent)
        sent += BATCH
        await clock.advance(3.0)
        check_step(worker)
    faults.heal()
    await clock.advance(10.0)
    check_step(worker)
    shutdown = asyncio.create_task(worker.shutdown(30.0))
    await clock.run_until(lambda: shutdown.done() and task.done(), limit=600.0)
    report = shutdown.exception() or shutdown.result()
    if not task.cancelled():
        task.exception()  # retrieved: a crash of run() is reported by the checks below
    return worker, fake, report


def check_end(worker: AnalyticsWorker, fake: FakeSink, spool_dir: Path) -> None:
    s = worker.stats()
    assert adds_up(s), s
    assert s.in_flight == 0 and s.queue_depth == 0, s
    stored = [_seq(r[5]) for r in fake.stored]
    assert len(stored) == len(set(stored)), "a row stored twice"
    dead = {_seq(r.payload) for r in fake.dead} | {
        _seq(r.payload) for r in worker.recent_rejections()
    }
    assert not dead & set(stored), "a row both stored and dead-lettered"
    assert s.written + s.replayed == len(stored), ("each stored row counted once", s)
    replay_rejected = getattr(s, "replay_rejected", 0)  # (absent before issue 19)
    assert s.rejected + replay_rejected == len(dead), ("each dead letter counted once", s)
    pending = spooled_pending(spool_dir)
    # What the worker counts as spooled and not replayed is on disk, and only that.
    assert s.spooled - s.replayed - replay_rejected == pending, (s, pending)
    dead_lettered = s.rejected + replay_rejected
    assert s.tracked == len(stored) + dead_lettered + s.lost + pending + s.dropped, s


@pytest.mark.parametrize("error", sorted(ERRORS))
@pytest.mark.parametrize("site", SPOOL_SITES)
async def test_spool_call_sites_fail_and_the_invariant_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, site: str, error: str
) -> None:
    faults = Faults(site, error, times=3)
    with spool_faults(monkeypatch, faults):
        worker, fake, _ = await exercise(tmp_path, faults)
    check_end(worker, fake, tmp_path / "spool")
    s = worker.stats()
    if faults.raised and site in ("spool.open", "spool.write", "spool.flush", "spool.fsync"):
        # A failing disk is a counted, visible state.
        assert getattr(s, "spool_failures", 0) >= 1, s


@pytest.mark.parametrize("error", sorted(ERRORS))
@pytest.mark.parametrize("site", SINK_SITES)
async def test_sink_call_sites_fail_and_the_invariant_holds(
    tmp_path: Path, site: str, error: str
) -> None:
    faults = Faults(site, error, times=3)
    worker, fake, _ = await exercise(tmp_path, faults)
    check_end(worker, fake, tmp_path / "spool")


@pytest.mark.parametrize("error", sorted(ERRORS))
async def test_a_dead_letter_failure_never_opens_the_outage_circuit(
    tmp_path: Path, error: str
) -> None:
    """Dead letters have a retry of their own: their failure is not an outage, so the
    next healthy batch is delivered, not spooled, and no write counts as retried."""
    client, cfg = AnalyticsClient.new(
        batch_size=BATCH,
        max_batch_size=BATCH,
        spool_dir=tmp_path / "spool",
        spool_after_failures=1,
    )
    clock = FakeClock()
    fake = FakeSink(clock)
    fake.refuse = lambda row: _seq(row[5]) == 3
    faults = Faults("sink.dead_letter", error, times=1)
    worker = AnalyticsWorker(cfg, sink=FaultySink(fake, faults), clock=clock)
    task = asyncio.create_task(worker.run())
    track(client, BATCH)
    await clock.run_until(lambda: worker.stats().rejected == 1)
    track(client, BATCH, start=BATCH)
    await clock.run_until(lambda: len(fake.stored) == 2 * BATCH - 1)
    s = worker.stats()
    assert (s.spooled, s.retried) == (0, 0), s
    assert getattr(s, "dead_letter_retries", 0) == 1, s
    shutdown = asyncio.create_task(worker.shutdown(10.0))
    await clock.run_until(lambda: shutdown.done() and task.done())
    assert len(fake.dead) == 1 and adds_up(worker.stats())
