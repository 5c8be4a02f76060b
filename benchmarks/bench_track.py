"""Benchmark 1: the cost of ``track()`` on the caller's thread, against its floor and peers.

What is timed is what a request handler pays: the call itself. Calls are timed in
batches of ``BATCH`` (a single call is shorter than the clock's resolution); between
batches the queue is drained outside the timed region, as the worker would, so the
numbers do not include the garbage collector walking a million queued events that in
production would already be in the database. The reported figure is the median over
batches of (batch time / BATCH), loop overhead included (see the "empty call" row).

Baselines, measured in the same process on the same machine:

* ``queue.SimpleQueue.put_nowait`` of the same pre-built event: the cheapest thread-safe
  hand-off CPython has (the floor).
* segment-analytics-python ``Client.track()`` with ``send=False``: the library runs its
  whole call path (validation, message dict, timestamp, uuid4, ``clean()``, the JSON
  size check) and returns just before ``queue.put`` (it starts no consumer thread, so
  nothing touches the network). Its real cost is therefore slightly *higher*.
* posthog ``Posthog.capture()`` with ``send=False`` and a dummy loopback host: the full
  capture path (properties, uuid, timestamp, before_send, lane admission) up to the
  point where it would enqueue; no consumer thread, no flag polling, no network.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import tracemalloc
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from itertools import repeat
from typing import Any

from _common import Summary, summarize, table

from lib_analytics_core import AnalyticsClient, ApiRequest

BATCH = 1_000
THREADS = 8

_USER = uuid.UUID("0190f5a4-7c1e-7b2a-9c3d-4e5f60718293")
_USER_STR = str(_USER)


def _event() -> ApiRequest:
    return ApiRequest(
        service="platform-api",
        method="GET",
        endpoint="/v1/projects/{project_id}/tasks",
        status_code=200,
        duration_ms=37,
        user_id=_USER,
    )


def _props() -> dict[str, Any]:
    return {
        "service": "platform-api",
        "method": "GET",
        "endpoint": "/v1/projects/{project_id}/tasks",
        "status_code": 200,
        "duration_ms": 37,
    }


@dataclass
class Contender:
    name: str
    #: runs the call ``n`` times (the loop lives here so no extra call layer is timed)
    loop: Callable[[int], None]
    drain: Callable[[], None]
    #: one call, for the allocation measurement
    once: Callable[[], None]


class _LoopThread:
    """A running asyncio loop in a thread: the worker's waker target, as in production."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def _contenders(with_peers: bool) -> tuple[list[Contender], list[str], Callable[[], None]]:
    """Everything to measure; returns (contenders, notes, cleanup)."""
    notes: list[str] = []
    client, cfg = AnalyticsClient.new(
        batch_size=100, flush_interval_secs=10, queue_capacity=2_000_000, max_batch_size=5_000
    )
    channel = cfg.channel
    loop_thread = _LoopThread()
    woken = asyncio.Event()

    def waker() -> None:
        loop_thread.loop.call_soon_threadsafe(woken.set)

    channel.set_waker(waker)
    ev = _event()

    def drain_ours() -> None:
        channel.take(10**9)

    def track_loop(n: int) -> None:
        track = client.track
        e = ev
        for _ in repeat(None, n):
            track(e)

    def construct_track_loop(n: int) -> None:
        track = client.track
        user = _USER
        for _ in repeat(None, n):
            track(
                ApiRequest(
                    service="platform-api",
                    method="GET",
                    endpoint="/v1/projects/{project_id}/tasks",
                    status_code=200,
                    duration_ms=37,
                    user_id=user,
                )
            )

    def construct_loop(n: int) -> None:
        user = _USER
        for _ in repeat(None, n):
            ApiRequest(
                service="platform-api",
                method="GET",
                endpoint="/v1/projects/{project_id}/tasks",
                status_code=200,
                duration_ms=37,
                user_id=user,
            )

    import queue

    sq: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def sq_loop(n: int) -> None:
        put = sq.put_nowait
        e = ev
        for _ in repeat(None, n):
            put(e)

    def sq_drain() -> None:
        get = sq.get_nowait
        try:
            while True:
                get()
        except queue.Empty:
            pass

    def empty_loop(n: int) -> None:
        def f(_: object) -> None:
            return None

        e = ev
        for _ in repeat(None, n):
            f(e)

    def nothing() -> None:
        return None

    out = [
        Contender("empty call (loop overhead)", empty_loop, nothing, nothing),
        Contender("SimpleQueue.put_nowait (floor)", sq_loop, sq_drain, lambda: sq.put_nowait(ev)),
        Contender(
            "lib_analytics_core track(pre-built)", track_loop, drain_ours, lambda: client.track(ev)
        ),
        Contender("event construction only", construct_loop, nothing, lambda: construct_loop(1)),
        Contender(
            "lib_analytics_core construct + track",
            construct_track_loop,
            drain_ours,
            lambda: construct_track_loop(1),
        ),
    ]
    cleanups: list[Callable[[], None]] = []
    if with_peers:
        try:
            from segment.analytics import Client as SegmentClient  # type: ignore[import-untyped]

            seg = SegmentClient(write_key="bench-write-key", send=False, sync_mode=False)
            props = _props()

            def seg_loop(n: int) -> None:
                track = seg.track
                p = props
                for _ in repeat(None, n):
                    track(_USER_STR, "api_request", p)

            def seg_construct_loop(n: int) -> None:
                track = seg.track
                for _ in repeat(None, n):
                    track(
                        _USER_STR,
                        "api_request",
                        {
                            "service": "platform-api",
                            "method": "GET",
                            "endpoint": "/v1/projects/{project_id}/tasks",
                            "status_code": 200,
                            "duration_ms": 37,
                        },
                    )

            out.append(
                Contender("segment track() send=False", seg_loop, nothing, lambda: seg_loop(1))
            )
            out.append(
                Contender(
                    "segment track() + props dict",
                    seg_construct_loop,
                    nothing,
                    lambda: seg_construct_loop(1),
                )
            )
        except ImportError:
            notes.append("segment-analytics-python not installed: pip install -e '.[bench]'")
        try:
            from posthog import Posthog

            ph = Posthog(
                "phc_benchmark_dummy_key",
                host="http://127.0.0.1:9",
                send=False,
                sync_mode=False,
                disable_geoip=True,
                enable_exception_autocapture=False,
            )
            cleanups.append(lambda: _quiet(ph.shutdown))
            props2 = _props()

            def ph_loop(n: int) -> None:
                capture = ph.capture
                p = props2
                for _ in repeat(None, n):
                    capture("api_request", distinct_id=_USER_STR, properties=p)

            def ph_construct_loop(n: int) -> None:
                capture = ph.capture
                for _ in repeat(None, n):
                    capture(
                        "api_request",
                        distinct_id=_USER_STR,
                        properties={
                            "service": "platform-api",
                            "method": "GET",
                            "endpoint": "/v1/projects/{project_id}/tasks",
                            "status_code": 200,
                            "duration_ms": 37,
                        },
                    )

            out.append(
                Contender("posthog capture() send=False", ph_loop, nothing, lambda: ph_loop(1))
            )
            out.append(
                Contender(
                    "posthog capture() + props dict",
                    ph_construct_loop,
                    nothing,
                    lambda: ph_construct_loop(1),
                )
            )
        except ImportError:
            notes.append("posthog not installed: pip install -e '.[bench]'")

    def cleanup() -> None:
        for c in cleanups:
            c()
        channel.set_waker(None)
        loop_thread.stop()

    return out, notes, cleanup


def _quiet(fn: Callable[[], object]) -> None:
    try:
        fn()
    except Exception:
        return


def _single(c: Contender, batches: int, budget_s: float) -> Summary:
    """Up to ``batches`` timed batches, stopping early once ``budget_s`` is spent."""
    per_call: list[float] = []
    c.loop(BATCH)  # warm-up (first construction generates the checker, etc.)
    c.drain()
    pc = time.perf_counter_ns
    deadline = pc() + int(budget_s * 1e9)
    for i in range(batches):
        t0 = pc()
        c.loop(BATCH)
        t1 = pc()
        per_call.append((t1 - t0) / BATCH)
        c.drain()
        if t1 > deadline and i >= 20:
            break
    return summarize(per_call)


def _threaded(c: Contender, calls_per_thread: int, rounds: int) -> float:
    """Wall-clock ns per call with THREADS threads calling at once (median of rounds).

    A drainer thread empties the queue every millisecond, as the worker does, so the
    queue stays short (otherwise the collector walking 100,000s of queued events is
    what gets measured).
    """
    results: list[float] = []
    for _ in range(rounds):
        barrier = threading.Barrier(THREADS + 1)
        done = threading.Event()

        def body(barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            c.loop(calls_per_thread)

        def drainer(done: threading.Event = done) -> None:
            while not done.wait(0.001):
                c.drain()

        threads = [threading.Thread(target=body) for _ in range(THREADS)]
        for t in threads:
            t.start()
        d = threading.Thread(target=drainer)
        d.start()
        barrier.wait()
        t0 = time.perf_counter_ns()
        for t in threads:
            t.join()
        results.append((time.perf_counter_ns() - t0) / (THREADS * calls_per_thread))
        done.set()
        d.join()
        c.drain()
    return summarize(results).median


def _allocations(c: Contender, calls: int) -> tuple[float, float, float]:
    """(blocks retained per call, bytes retained per call, transient peak bytes per call).

    Retained = still allocated after the call (the queued item until the worker takes
    it). Transient peak = the most memory the call held at once, including what it
    freed before returning (median over single calls).
    """
    c.drain()
    gc.collect()
    tracemalloc.start()
    try:
        for _ in range(50):
            c.once()
        c.drain()
        gc.collect()
        before = tracemalloc.take_snapshot()
        for _ in range(calls):
            c.once()
        after = tracemalloc.take_snapshot()
        stats = after.compare_to(before, "lineno")
        blocks = sum(s.count_diff for s in stats) / calls
        size = sum(s.size_diff for s in stats) / calls
        peaks: list[float] = []
        for _ in range(200):
            cur, _peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            c.once()
            _c2, peak = tracemalloc.get_traced_memory()
            peaks.append(peak - cur)
        return blocks, size, summarize(peaks).median
    finally:
        tracemalloc.stop()
        c.drain()


def run(quick: bool) -> tuple[str, dict[str, Any]]:
    batches = 300 if quick else 3_000
    budget = 1.0 if quick else 10.0
    per_thread = 10_000 if quick else 100_000
    rounds = 3 if quick else 7
    contenders, notes, cleanup = _contenders(with_peers=True)
    rows: list[list[object]] = []
    single: dict[str, Summary] = {}
    threaded: dict[str, float] = {}
    allocs: dict[str, tuple[float, float, float]] = {}
    try:
        for c in contenders:
            single[c.name] = s = _single(c, batches, budget)
            # Peers cost ~100x more per call: scale their calls to a similar wall time.
            scale = max(1, min(100, int(s.median / 500)))
            threaded[c.name] = _threaded(c, max(500, per_thread // scale), rounds)
            allocs[c.name] = _allocations(c, 500 if quick else 2_000)
            rows.append(
                [
                    c.name,
                    s.median,
                    s.p95,
                    threaded[c.name],
                    allocs[c.name][0],
                    allocs[c.name][1],
                    allocs[c.name][2],
                ]
            )
    finally:
        cleanup()
    text = table(
        f"Benchmark 1: track() cost (ns per call; median over batches of {BATCH} calls, up to "
        f"{batches} batches or {budget:.0f} s each; {THREADS} threads x up to {per_thread:,} "
        f"calls, median of {rounds} rounds)",
        [
            "call",
            "median ns",
            "p95 ns",
            f"{THREADS} threads ns/call (wall)",
            "blocks kept/call",
            "bytes kept/call",
            "transient peak B/call",
        ],
        rows,
    )
    ours = single["lib_analytics_core track(pre-built)"].median
    ours_c = single["lib_analytics_core construct + track"].median
    result: dict[str, Any] = {
        "track_ns_median": round(ours, 1),
        "track_ns_p95": round(single["lib_analytics_core track(pre-built)"].p95, 1),
        "track_with_construction_ns_median": round(ours_c, 1),
        "track_8_threads_ns_per_call": round(threaded["lib_analytics_core track(pre-built)"], 1),
        "floor_simplequeue_ns_median": round(single["SimpleQueue.put_nowait (floor)"].median, 1),
        "loop_overhead_ns": round(single["empty call (loop overhead)"].median, 1),
        "construction_only_ns_median": round(single["event construction only"].median, 1),
        "track_bytes_retained_per_call": round(allocs["lib_analytics_core track(pre-built)"][1], 1),
        "track_vs_segment": None,
        "track_vs_posthog": None,
    }
    if "segment track() send=False" in single:
        seg = single["segment track() send=False"].median
        result["segment_track_ns_median"] = round(seg, 1)
        result["track_vs_segment"] = round(seg / ours, 1)
        result["construct_track_vs_segment"] = round(
            single["segment track() + props dict"].median / ours_c, 1
        )
    if "posthog capture() send=False" in single:
        ph = single["posthog capture() send=False"].median
        result["posthog_capture_ns_median"] = round(ph, 1)
        result["track_vs_posthog"] = round(ph / ours, 1)
        result["construct_track_vs_posthog"] = round(
            single["posthog capture() + props dict"].median / ours_c, 1
        )
    summary = (
        f"track(): {ours:.0f} ns median (target <= 500), construct+track {ours_c:.0f} ns "
        f"(target <= 1500); segment {result['track_vs_segment']}x, posthog "
        f"{result['track_vs_posthog']}x slower (target >= 50x)\n"
    )
    if notes:
        summary += "notes: " + "; ".join(notes) + "\n"
    # Benchmark 1b: the whole job per event (caller + worker + sink), like for like.
    import bench_track_total

    total_text, total = bench_track_total.run(quick)
    result.update(total)
    summary += (
        f"total CPU per event (caller + worker + sink, like for like): "
        f"{total['total_cpu_us_per_event']} us; segment "
        f"{total.get('total_cpu_vs_segment')}x, posthog {total.get('total_cpu_vs_posthog')}x\n"
    )
    return text + "\n" + summary + "\n" + total_text, result


if __name__ == "__main__":
    import sys

    text, res = run("--quick" in sys.argv)
    print(text)
    print(res)
