"""Helpers of the alert tests: replayed request histories and a webhook receiver.

Histories: ``api_request`` rows every :data:`EVERY` seconds whose bad ones are spread
evenly (row ``i`` is bad when ``floor((i + 1) p) > floor(i p)``, so every stretch of
rows holds ``p`` of bad ones to within one), written straight into the events table for
the long histories (30 days is 260,000 rows) and through ``AnalyticsClient.track_at``
for the short ones (the same rows the library writes).

The receiver is a real HTTP server on loopback that does what a deduplicating receiver
does: it records every POST and its ``Idempotency-Key``, answers 503 while told to, and
can hold a request until the test lets it go (to kill the evaluator mid-delivery).
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import asyncpg

from lib_analytics_core import AnalyticsClient, AnalyticsWorker
from lib_analytics_core.events.catalog import ApiRequest

EVERY = 10
"""Seconds between two requests of a replayed history (6 a minute, 360 an hour)."""

UTC = dt.UTC


async def write_requests(
    conn: asyncpg.Connection,
    start: dt.datetime,
    end: dt.datetime,
    p: float,
    *,
    service: str = "platform",
    endpoint: str = "/v1/tasks",
    slow_ms: int | None = None,
) -> int:
    """``api_request`` rows every EVERY s in ``[start, end)``, a share ``p`` of them 503
    (or, with ``slow_ms``, that slow instead), evenly spread (module docstring)."""
    n = int((end - start).total_seconds()) // EVERY
    bad = "floor((g + 1) * $4::float8) > floor(g * $4::float8)"
    status = "503" if slow_ms is None else "200"
    duration = "12" if slow_ms is None else f"CASE WHEN {bad} THEN {slow_ms} ELSE 12 END"
    await conn.execute(
        f"""
        INSERT INTO analytics_events ("timestamp", event_id, event_type, service, data)
        SELECT $1::timestamptz + g * make_interval(secs => $5), gen_random_uuid(),
               'api_request', $2,
               jsonb_build_object(
                   'status_code', CASE WHEN {bad} AND $6 THEN {status} ELSE 200 END,
                   'duration_ms', {duration}, 'endpoint', $3::text, 'method', 'GET')
        FROM generate_series(0, $7::int - 1) AS g
        """,
        start,
        service,
        endpoint,
        p,
        EVERY,
        slow_ms is None,
        n,
    )
    return n


async def track_requests(
    dsn: str, start: dt.datetime, end: dt.datetime, p: float, service: str = "platform"
) -> int:
    """The same history as :func:`write_requests`, written by the library's client."""
    client, cfg = AnalyticsClient.new(batch_size=500, flush_interval_secs=0.1, service_name=service)
    worker = AnalyticsWorker(cfg, dsn)
    import asyncio

    task = asyncio.create_task(worker.run())
    n = int((end - start).total_seconds()) // EVERY
    for i in range(n):
        bad = int((i + 1) * p) > int(i * p)
        client.track_at(
            ApiRequest(
                service=service,
                method="GET",
                endpoint="/v1/tasks",
                status_code=503 if bad else 200,
                duration_ms=12,
            ),
            start + dt.timedelta(seconds=i * EVERY),
        )
    report = await worker.shutdown(timeout=60)
    await task
    assert report.lost == 0 and worker.stats().rejected == 0
    return n


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1 (module docstring). ``posts``: every request
    (key, body) in arrival order; ``accepted``: those answered 2xx."""

    port: int = 0
    status: int = 200
    hold: bool = False
    posts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    accepted: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None

    def __post_init__(self) -> None:
        if not self.port:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                self.port = s.getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                key = self.headers.get("Idempotency-Key", "")
                receiver.posts.append((key, body))
                receiver.arrived.set()
                if receiver.hold:
                    receiver.release.wait(60)
                status = receiver.status
                if 200 <= status < 300:
                    receiver.accepted.append((key, body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Down: nothing listens on the port any more."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def unique(self) -> list[tuple[str, dict[str, Any]]]:
        """What a receiver deduplicating on the key acted on, in order."""
        seen: set[str] = set()
        out = []
        for key, body in self.accepted:
            if key not in seen:
                seen.add(key)
                out.append((key, body))
        return out


def config_text(url: str, *, extra: str = "") -> str:
    return f"""
dashboard_url = "http://dashboard.example"

[[webhook]]
name = "ops"
url = "{url}"

[[slo]]
name = "platform-availability"
service = "platform"
kind = "availability"
objective = 0.995
window = "30d"
notify = ["ops"]
{extra}
"""
