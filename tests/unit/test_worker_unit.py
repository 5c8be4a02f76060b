"""The batching loop and the delivery policy on a virtual clock and an in-memory sink.

Everything here runs in milliseconds of real time, whatever the simulated delays
(backoff of seconds, shutdown deadlines, flush intervals). The same behaviour against a
real PostgreSQL through a TCP proxy is the integration layer (``tests/test_reliability``).
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any, ClassVar

import pytest

from lib_analytics_core import AnalyticsClient, AnalyticsWorker, Event
from lib_analytics_core.ingest.stats import WorkerStats
from tests._faults import SeqEvent
from tests.unit._fakes import FakeClock, FakeSink


def make(**options: Any) -> tuple[AnalyticsClient, AnalyticsWorker, FakeSink, FakeClock]:
    settings: dict[str, Any] = {"batch_size": 10, "flush_interval_secs": 5.0, **options}
    client, cfg = AnalyticsClient.new(**settings)
    clock = FakeClock()
    sink = FakeSink(clock)
    return client, AnalyticsWorker(cfg, sink=sink, clock=clock), sink, clock


def track(client: AnalyticsClient, n: int, run: str = "u", start: int = 0) -> None:
    for seq in range(start, start + n):
        client.track(SeqEvent(run=run, seq=seq))


def seqs(sink: FakeSink) -> list[int]:
    import msgspec

    return sorted(msgspec.json.decode(r[5])["seq"] for r in sink.stored)


async def stop(worker: AnalyticsWorker, clock: FakeClock, task: asyncio.Task[None]) -> Any:
    shutdown = asyncio.create_task(worker.shutdown(10.0))
    await clock.run_until(lambda: shutdown.done() and task.done())
    return shutdown.result()


def adds_up(s: WorkerStats) -> bool:
    return s.tracked == (
        s.written
        + s.rejected
        + s.spooled
        + s.lost
        + s.sampled_out
        + s.hook_dropped
        + s.queue_depth
        + s.in_flight
        + s.dropped
    )


async def test_a_full_batch_goes_at_once_a_partial_one_after_the_interval() -> None:
    client, worker, sink, clock = make()
    task = asyncio.create_task(worker.run())
    track(client, 10)
    await clock.settle()
    assert [c.rows for c in sink.calls] == [10]
    track(client, 3, start=10)
    await clock.settle()  # the worker notes when the queue became non-empty
    await clock.advance(4.9)
    assert [c.rows for c in sink.calls] == [10]
    await clock.advance(0.2)
    assert [c.rows for c in sink.calls] == [10, 3]
    await stop(worker, clock, task)
    assert seqs(sink) == list(range(13))


async def test_under_load_everything_waiting_goes_in_one_batch_up_to_the_cap() -> None:
    client, worker, sink, clock = make(max_batch_size=25)
    track(client, 60)  # queued before the worker starts
    task = asyncio.create_task(worker.run())
    await clock.settle()
    assert [c.rows for c in sink.calls] == [25, 25, 10]
    await stop(worker, clock, task)


async def test_failed_deliveries_back_off_exponentially_with_jitter_and_redeliver() -> None:
    client, worker, sink, clock = make(initial_backoff_secs=1.0, max_backoff_secs=5.0)
    sink.fail_next = 5
    task = asyncio.create_task(worker.run())
    track(client, 10)
    await clock.run_until(lambda: len(sink.stored) == 10)
    calls = sink.calls
    assert [c.redelivery for c in calls] == [False, True, True, True, True, True]
    gaps = [b.at - a.at for a, b in itertools.pairwise(calls)]
    for k, gap in enumerate(gaps):
        ceiling = min(5.0, 2.0**k)
        assert ceiling / 2 <= gap <= ceiling, (k, gap)  # "equal jitter"
    await stop(worker, clock, task)
    s = worker.stats()
    assert (s.written, s.retried, s.batches) == (10, 5, 1)


async def test_an_open_circuit_spools_without_trying_then_replay_catches_up(
    tmp_path: Path,
) -> None:
    client, worker, sink, clock = make(
        spool_dir=tmp_path,
        spool_after_failures=1,
        initial_backoff_secs=10.0,
        max_backoff_secs=10.0,
    )
    sink.down = True
    task = asyncio.create_task(worker.run())
    track(client, 10)
    await clock.run_until(lambda: worker.stats().spooled == 10)
    assert len(sink.calls) == 1  # one failed attempt, then to disk
    track(client, 10, start=10)
    await clock.run_until(lambda: worker.stats().spooled == 20, limit=4.0)
    assert len(sink.calls) == 1, "the circuit is open: no attempt, straight to the spool"
    sink.down = False
    await clock.run_until(lambda: worker.stats().replayed == 20)
    assert all(c.redelivery for c in sink.calls[1:])  # replays are idempotent
    await stop(worker, clock, task)
    assert seqs(sink) == list(range(20))
    assert adds_up(worker.stats())


async def test_shutdown_gives_up_at_its_deadline_and_counts_the_loss() -> None:
    client, worker, sink, clock = make(write_timeout_secs=30.0, max_backoff_secs=60.0)
    sink.down = True
    task = asyncio.create_task(worker.run())
    track(client, 10)
    await clock.run_until(lambda: len(sink.calls) >= 2)
    started, before = clock.now(), len(sink.calls)
    shutdown = asyncio.create_task(worker.shutdown(5.0))
    await clock.run_until(lambda: shutdown.done() and task.done())
    report = shutdown.result()
    assert (report.written, report.spooled, report.lost) == (0, 0, 10)
    assert clock.now() - started <= 5.0 + 1e-6
    late = sink.calls[before:]
    assert late and all(c.timeout <= 5.0 for c in late)  # clipped to the deadline
    assert adds_up(worker.stats())


async def test_cancelling_with_a_delivery_in_flight_finishes_it_and_reraises() -> None:
    client, worker, sink, clock = make()
    sink.gate = asyncio.Event()
    task = asyncio.create_task(worker.run())
    track(client, 10)
    await clock.settle()
    track(client, 5, start=10)  # and more queued behind it
    assert sink.active == 1
    task.cancel()
    await clock.settle()
    sink.gate.set()
    await clock.run_until(task.done)
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seqs(sink) == list(range(15))
    s = worker.stats()
    assert (s.written, s.lost, s.in_flight, s.queue_depth) == (15, 0, 0, 0)


async def test_a_replay_never_overlaps_a_live_delivery(tmp_path: Path) -> None:
    client, worker, sink, clock = make(
        spool_dir=tmp_path, spool_after_failures=1, initial_backoff_secs=0.5
    )
    sink.down = True
    task = asyncio.create_task(worker.run())
    track(client, 30)
    await clock.run_until(lambda: worker.stats().spooled == 30)
    sink.down = False
    track(client, 200, start=30)
    await clock.run_until(lambda: len(sink.stored) == 230)
    await stop(worker, clock, task)
    assert sink.peak == 1
    assert seqs(sink) == list(range(230))


class Nested(Event):
    event_type: ClassVar[str] = "unit_nested"
    value: list[Any]


async def test_one_event_that_breaks_the_encoder_and_repr_is_dead_lettered() -> None:
    client, worker, sink, clock = make()
    value: list[Any] = []
    for _ in range(3000):
        value = [value]
    task = asyncio.create_task(worker.run())
    track(client, 5)
    client.track(Nested(value=value))
    track(client, 14, start=5)
    await clock.run_until(lambda: len(sink.stored) == 19)
    report = await stop(worker, clock, task)
    assert report.lost == 0
    assert [d.event_type for d in sink.dead] == ["unit_nested"]
    assert "RecursionError" in sink.dead[0].error
    assert "undescribable" in sink.dead[0].payload
    s = worker.stats()
    assert (s.tracked, s.written, s.rejected) == (20, 19, 1)
    assert adds_up(s)


async def test_refused_rows_are_dead_lettered_and_the_counters_add_up() -> None:
    client, worker, sink, clock = make(
        queue_capacity=40, max_batch_size=20, before_track=lambda e: e if e.seq % 7 else None
    )
    sink.refuse = lambda row: '"seq":5,' in row[5]
    track(client, 50)  # 10 over capacity: dropped
    task = asyncio.create_task(worker.run())
    await stop(worker, clock, task)
    s = worker.stats()
    assert s.dropped == 10 and s.hook_dropped == 6 and s.rejected == 1
    assert s.written == 40 - 6 - 1
    assert adds_up(s)


def test_the_default_transport_is_the_postgres_sink_and_nats_is_not_loaded() -> None:
    import subprocess
    import sys

    from lib_analytics_core import AnalyticsConfig
    from lib_analytics_core.ingest.sinks import make_sink
    from lib_analytics_core.ingest.sinks.postgres import PostgresSink

    sink = make_sink(AnalyticsConfig(), "postgresql://nowhere/db")
    assert isinstance(sink, PostgresSink) and sink.name == "postgres"
    # In a fresh interpreter (this one may have imported the bus for other tests): an
    # application on the direct path never loads the NATS sink or nats-py.
    probe = (
        "import sys\n"
        "from lib_analytics_core import AnalyticsClient, AnalyticsWorker\n"
        "client, cfg = AnalyticsClient.new()\n"
        "AnalyticsWorker(cfg, 'postgresql://nowhere/db')\n"
        "print(sorted(m for m in sys.modules if m == 'nats' or m.endswith('sinks.nats')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


async def test_dead_letters_that_cannot_be_stored_never_hold_up_later_batches() -> None:
    client, worker, sink, clock = make(initial_backoff_secs=1.0)
    sink.refuse = lambda row: '"seq":3,' in row[5]
    sink.dead_letters_fail = True
    task = asyncio.create_task(worker.run())
    track(client, 10)
    await clock.run_until(lambda: worker.stats().rejected == 1)
    track(client, 10, start=10)
    await clock.run_until(lambda: len(sink.stored) == 19)
    await stop(worker, clock, task)
    s = worker.stats()
    assert sink.dead == [] and [r.error for r in worker.recent_rejections()] == ["refused"]
    # Dead letters retry on their own path: not failed writes, no outage circuit.
    assert (s.written, s.rejected, s.retried, s.dead_letter_retries) == (19, 1, 0, 2)
    assert adds_up(s)


async def test_shutdown_cuts_an_attempt_that_began_before_it_with_a_long_timeout() -> None:
    """An attempt in flight when shutdown() is called (here: one that never answers,
    begun with a 10-minute write timeout) must still end by shutdown's deadline."""
    client, worker, sink, clock = make(write_timeout_secs=600.0)
    sink.gate = asyncio.Event()  # never opened: the sink hangs like a blackholed network
    task = asyncio.create_task(worker.run())
    track(client, 10)
    await clock.settle()
    assert sink.active == 1 and sink.calls[0].timeout == 600.0
    started = clock.now()
    shutdown = asyncio.create_task(worker.shutdown(5.0))
    await clock.run_until(lambda: shutdown.done() and task.done(), limit=60.0)
    report = shutdown.result()
    assert (report.written, report.lost, report.timed_out) == (0, 10, False)
    assert clock.now() - started <= 5.0 + 1e-6
    assert sink.active == 0, "the hanging call was cancelled"
    assert adds_up(worker.stats())
