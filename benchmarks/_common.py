"""Shared helpers for the benchmark scripts: timing statistics, tables, the database.

Benchmarks are scripts, not tests: they print numbers and never assert on time.
"""

from __future__ import annotations

import contextlib
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def database_url(arg: str | None) -> str:
    """The admin DSN: --database-url, else DATABASE_URL, else the local server."""
    return arg or os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL


def with_database(url: str, name: str) -> str:
    """``url`` pointing at database ``name`` instead."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


async def create_migrated(admin_url: str, name: str, *, replace: bool = False) -> str:
    """Create database ``name`` (dropping it first with ``replace``) and migrate it with
    the library's migrations; returns its URL. On a server that preloads TimescaleDB the
    migration creates the extension and builds the timescale tier, as for any user."""
    from lib_analytics_core import migrate

    admin = await asyncpg.connect(admin_url)
    try:
        if replace:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = with_database(admin_url, name)
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    return url


@contextlib.asynccontextmanager
async def bench_database(admin_url: str, *, keep: bool = False) -> AsyncIterator[str]:
    """Create ``lac_bench_<pid>``, migrate it with the library's migrations, drop it after."""
    name = f"lac_bench_{os.getpid()}"
    url = await create_migrated(admin_url, name, replace=True)
    try:
        yield url
    finally:
        if not keep:
            admin = await asyncpg.connect(admin_url)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await admin.close()


@dataclass(frozen=True)
class Summary:
    n: int
    median: float
    p95: float
    p50: float
    mean: float
    minimum: float


def summarize(values: Sequence[float]) -> Summary:
    ordered = sorted(values)
    n = len(ordered)

    def pct(q: float) -> float:
        # nearest-rank percentile
        idx = max(0, min(n - 1, round(q * n + 0.5) - 1))
        return ordered[idx]

    return Summary(
        n=n,
        median=statistics.median(ordered),
        p95=pct(0.95),
        p50=pct(0.50),
        mean=statistics.fmean(ordered),
        minimum=ordered[0],
    )


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table (also valid Markdown)."""
    cells = [[str(h) for h in header]] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = [f"### {title}", ""]
    for i, r in enumerate(cells):
        lines.append("| " + " | ".join(c.ljust(widths[j]) for j, c in enumerate(r)) + " |")
        if i == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines) + "\n"


def _fmt(value: object) -> str:
    if isinstance(value, float):
        if value >= 1000:
            return f"{value:,.0f}"
        if value >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def emit(text: str) -> None:
    print(text, flush=True)


def machine_description() -> dict[str, Any]:
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gb = 0.0
    with contextlib.suppress(OSError, ValueError), open("/proc/meminfo", encoding="utf-8") as fh:
        mem_gb = int(fh.readline().split()[1]) / 1024 / 1024
    return {
        "host": socket.gethostname(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_gb, 1),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


async def server_version(url: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


def psql_available() -> bool:
    try:
        subprocess.run(["psql", "--version"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        return False
    return True


class Stopwatch:
    def __init__(self) -> None:
        self.t0 = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0
