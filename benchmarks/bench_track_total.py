"""Benchmark 1b: total CPU per event, this library against its peers, like for like.

Benchmark 1 times ``track()`` on the caller's thread. That is what a request handler
waits for, but it is not the whole cost: this library builds the stored row later, in
its worker (~3 us per event), where segment and posthog build their message on the
caller's thread and serialise it on their consumer thread. Comparing the caller's
share alone flatters the library that defers more work. Here every contender does its
*whole* job in this process — build the event, hand it over, encode the batch and send
it to a sink on loopback — and what is measured is the process's CPU time
(``time.process_time``: every thread) divided by the events, plus the caller's thread
alone (``time.thread_time``).

* **lib_analytics_core**: ``construct + track()``, the real ``AnalyticsWorker`` on its
  own loop and thread (encoding to rows, the delivery policy), and a sink that encodes
  each batch with the library's one row codec (``ingest.rows.encode_rows``, what the bus
  publishes) and POSTs it over HTTP/1.1 to the loopback server.
* **segment** ``Client(send=True)`` and **posthog** ``Posthog(send=True)``: their real
  consumer threads, batching, JSON encoding and HTTP POSTs (``requests``) to the same
  loopback server.

The loopback server runs in a *subprocess* (its CPU is not counted), answers every POST
with 200 and a small JSON body, and keeps the connection alive.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from _common import table

from lib_analytics_core import AnalyticsClient, AnalyticsWorker, ApiRequest
from lib_analytics_core.ingest.rows import Rejected, Row, encode_rows
from lib_analytics_core.ingest.sinks.base import SinkOutcome

_USER = uuid.UUID("0190f5a4-7c1e-7b2a-9c3d-4e5f60718293")
_USER_STR = str(_USER)

_SERVER = r"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(n)
        body = b'{"status": 1}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST
    def log_message(self, *args):
        pass

srv = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
print("ready", flush=True)
srv.serve_forever()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class _Loopback:
    """The discard HTTP server, in a subprocess."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER, str(self.port)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.proc.stdout.readline()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


class HttpLoopbackSink:
    """A sink that POSTs each batch, encoded with the library's row codec, over one
    keep-alive HTTP/1.1 connection (what an HTTP sink to a collector would do)."""

    name = "http-loopback"

    def __init__(self, port: int) -> None:
        self._port = port
        self._conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self.rows = 0

    async def open(self) -> None:
        if self._conn is None:
            self._conn = await asyncio.open_connection("127.0.0.1", self._port)

    async def deliver(
        self,
        rows: Sequence[Row],
        *,
        redelivery: bool,
        timeout: float,  # noqa: ASYNC109
    ) -> SinkOutcome:
        await self.open()
        assert self._conn is not None
        reader, writer = self._conn
        body = encode_rows(rows)
        writer.write(
            b"POST /v1/batch HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/msgpack\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )
        await writer.drain()
        length = 0
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b""):
                break
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await reader.readexactly(length)
        self.rows += len(rows)
        return SinkOutcome(len(rows))

    async def dead_letter(self, refused: Sequence[Rejected], *, timeout: float) -> None:  # noqa: ASYNC109
        return None

    async def close(self) -> None:
        if self._conn is not None:
            self._conn[1].close()
            self._conn = None


def _measure(
    n: int, setup: Callable[[], tuple[Callable[[], None], Callable[[], None]]]
) -> tuple[float, float]:
    """(total process CPU us/event, caller-thread CPU us/event) for ``n`` events.

    ``setup`` returns (one call: build and hand over one event, finish: wait until every
    event has been sent and acknowledged by the loopback server)."""
    one, finish = setup()
    for _ in range(min(2_000, n // 10)):  # warm-up, not counted
        one()
    finish()
    one, finish = setup()
    p0, t0 = time.process_time(), time.thread_time()
    for _ in range(n):
        one()
    caller = time.thread_time() - t0
    finish()
    total = time.process_time() - p0
    return total / n * 1e6, caller / n * 1e6


def _measure_ours(n: int, port: int) -> tuple[float, float]:
    """As :func:`_measure`, for this library: the worker runs on this thread's event
    loop (``asyncio.run``), the events are tracked from another thread (the caller)."""

    def one(track: Callable[[ApiRequest], None]) -> None:
        track(
            ApiRequest(
                service="platform-api",
                method="GET",
                endpoint="/v1/projects/{project_id}/tasks",
                status_code=200,
                duration_ms=37,
                user_id=_USER,
            )
        )

    async def main(count: int) -> tuple[float, float]:
        client, cfg = AnalyticsClient.new(
            batch_size=500, flush_interval_secs=0.05, queue_capacity=1_000_000
        )
        worker = AnalyticsWorker(cfg, sink=HttpLoopbackSink(port))
        task = asyncio.create_task(worker.run())
        caller: list[float] = []

        def produce() -> None:
            t0 = time.thread_time()
            for _ in range(count):
                one(client.track)
            caller.append(time.thread_time() - t0)

        p0 = time.process_time()
        await asyncio.to_thread(produce)  # the caller, on its own thread
        await worker.shutdown(120)
        await task
        total = time.process_time() - p0
        assert worker.stats().written == count, worker.stats()
        return total / count * 1e6, caller[0] / count * 1e6

    asyncio.run(main(min(2_000, n // 10)))  # warm-up
    return asyncio.run(main(n))


def _props() -> dict[str, Any]:
    return {
        "service": "platform-api",
        "method": "GET",
        "endpoint": "/v1/projects/{project_id}/tasks",
        "status_code": 200,
        "duration_ms": 37,
    }


def _segment(url: str) -> Callable[[], tuple[Callable[[], None], Callable[[], None]]]:
    from segment.analytics import Client  # type: ignore[import-untyped]

    def setup() -> tuple[Callable[[], None], Callable[[], None]]:
        seg = Client(write_key="bench", host=url, send=True, max_queue_size=1_000_000)

        def one() -> None:
            seg.track(
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

        def finish() -> None:
            seg.flush()
            seg.join()

        return one, finish

    return setup


def _posthog(url: str) -> Callable[[], tuple[Callable[[], None], Callable[[], None]]]:
    from posthog import Posthog

    def setup() -> tuple[Callable[[], None], Callable[[], None]]:
        ph = Posthog(
            "phc_bench",
            host=url,
            send=True,
            max_queue_size=1_000_000,
            disable_geoip=True,
            enable_exception_autocapture=False,
            enable_local_evaluation=False,
        )

        def one() -> None:
            ph.capture(
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

        def finish() -> None:
            ph.flush()
            ph.shutdown()

        return one, finish

    return setup


def run(quick: bool) -> tuple[str, dict[str, Any]]:
    n = 5_000 if quick else 100_000
    reps = 1 if quick else 3
    server = _Loopback()
    ours_name = "lib_analytics_core (worker + row codec, HTTP loopback)"
    contenders: list[tuple[str, Callable[[], tuple[Callable[[], None], Callable[[], None]]]]] = []
    notes: list[str] = []
    try:
        contenders.append(("segment (consumer thread, HTTP loopback)", _segment(server.url)))
    except ImportError:
        notes.append("segment-analytics-python not installed (the bench extra)")
    try:
        contenders.append(("posthog (consumer thread, HTTP loopback)", _posthog(server.url)))
    except ImportError:
        notes.append("posthog not installed (the bench extra)")
    results: dict[str, tuple[float, float]] = {}
    try:
        runs = sorted(_measure_ours(n, server.port) for _ in range(reps))
        results[ours_name] = runs[len(runs) // 2]
        for name, setup in contenders:
            runs = sorted(_measure(n, setup) for _ in range(reps))
            results[name] = runs[len(runs) // 2]  # the median run by total CPU
    finally:
        server.stop()
    ours_total = results[ours_name][0]
    rows = [
        [name, total, caller, total - caller, total / ours_total]
        for name, (total, caller) in results.items()
    ]
    text = table(
        f"Benchmark 1b: total CPU per event, like for like ({n:,} events per run, median of "
        f"{reps} runs; process CPU over all threads; the loopback server is another process)",
        ["library", "total CPU us/event", "caller us/event", "worker+sink us/event", "x ours"],
        rows,
    )
    out: dict[str, Any] = {"total_cpu_us_per_event": round(ours_total, 2)}
    for key, label in (("segment", "segment"), ("posthog", "posthog")):
        match = [v for k, v in results.items() if k.startswith(label)]
        if match:
            out[f"total_cpu_us_per_event_{key}"] = round(match[0][0], 2)
            out[f"total_cpu_vs_{key}"] = round(match[0][0] / ours_total, 1)
    if notes:
        text += "\nnotes: " + "; ".join(notes)
    return text + "\n", out


if __name__ == "__main__":
    text, res = run("--quick" in sys.argv)
    print(text)
    print(res)
