"""Helpers shared by the fault-injection tests: a sequenced event, exactly-once checks,
a proxy in front of the test server, and running small scripts in a subprocess."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, ClassVar

import asyncpg

from lib_analytics_core import Event
from lib_analytics_core._dburl import parse_database_url
from tests._proxy import FaultProxy

REPO = Path(__file__).resolve().parent.parent


class SeqEvent(Event):
    """An event numbered by its producer, so a test can prove none is missing."""

    event_type: ClassVar[str] = "reliability_seq"
    run: str
    seq: int
    user_id: uuid.UUID | None = None


async def seq_summary(conn: asyncpg.Connection, run: str) -> dict[str, Any]:
    row = await conn.fetchrow(
        "SELECT count(*) AS n, count(DISTINCT event_id) AS ids, "
        "count(DISTINCT (data->>'seq')::int) AS seqs, "
        "min((data->>'seq')::int) AS lo, max((data->>'seq')::int) AS hi "
        "FROM analytics_events WHERE event_type = 'reliability_seq' AND data->>'run' = $1",
        run,
    )
    assert row is not None
    return dict(row)


async def assert_exactly_once(conn: asyncpg.Connection, run: str, n: int) -> None:
    """Every seq 0..n-1 of ``run`` is stored exactly once (count, ids, seqs, range)."""
    got = await seq_summary(conn, run)
    expected = {"n": n, "ids": n, "seqs": n, "lo": 0 if n else None, "hi": n - 1 if n else None}
    assert got == expected, f"run {run!r}: {got} != {expected}"


async def wait_until(
    predicate: Callable[[], bool | Awaitable[bool]], what: str, limit: float = 60.0
) -> None:
    """Poll until ``predicate`` holds. ``limit`` only bounds a hung test; no speed is asserted."""
    deadline = time.monotonic() + limit
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for: {what}")
        await asyncio.sleep(0.01)


def server_address(url: str) -> tuple[str, int]:
    """(host or socket directory, port) of a DSN."""
    parsed = parse_database_url(url)
    return parsed.host or "127.0.0.1", parsed.port


def database_name(url: str) -> str:
    return parse_database_url(url).database or ""


def proxy_for(url: str) -> FaultProxy:
    host, port = server_address(url)
    return FaultProxy(host, port).start()


def run_script(
    script: str, *args: str, timeout: float = 120.0, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``script`` (Python source) in a fresh interpreter; ``timeout`` is a hang guard."""
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        check=False,
    )


def spawn_script(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
