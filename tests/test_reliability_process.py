"""Whole-process behaviour in a fresh interpreter: the exit hook (database up, and
database blackholed), and the bounded queue measured by RSS."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from tests._faults import assert_exactly_once, database_name, proxy_for, run_script

EXIT_WITHOUT_SHUTDOWN = r"""
import sys
from lib_analytics_core import AnalyticsClient, AnalyticsWorker
from tests._faults import SeqEvent

dsn, run, n, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
client, cfg = AnalyticsClient.new(
    batch_size=5_000, flush_interval_secs=3600, shutdown_timeout_secs=timeout,
    write_timeout_secs=600,
)
AnalyticsWorker.start_in_thread(cfg, dsn)
for seq in range(n):
    client.track(SeqEvent(run=run, seq=seq))
print("tracked", n, flush=True)
# no shutdown(): the atexit hook must write (or give up within shutdown_timeout_secs)
"""


def _with_localhost(url: str) -> str:
    """The DSN with the host spelled as a name: connecting at exit then needs a DNS
    lookup, which asyncio's default executor refuses once the interpreter is exiting."""
    parts = urlsplit(url)
    if parts.hostname != "127.0.0.1":
        return url
    netloc = parts.netloc.replace("127.0.0.1", "localhost")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


async def test_exit_without_shutdown_writes_everything(
    database_url: str, db: asyncpg.Connection
) -> None:
    result = run_script(
        EXIT_WITHOUT_SHUTDOWN, _with_localhost(database_url), "atexit", "2500", "30"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["tracked", "2500"]
    await assert_exactly_once(db, "atexit", 2500)


async def test_exit_with_the_database_blackholed_is_bounded_and_reports_the_loss(
    admin_url: str, database_url: str, db: asyncpg.Connection
) -> None:
    with proxy_for(admin_url) as proxy:
        proxy.set_mode("blackhole")
        # write_timeout_secs is 600 in the script: without the deadline clipping the
        # attempt, the interpreter would hang ~10 minutes. The 90 s limit is a hang guard.
        result = run_script(
            EXIT_WITHOUT_SHUTDOWN,
            proxy.dsn(database_name(database_url)),
            "atexit-bh",
            "700",
            "1",
            timeout=90,
        )
    assert result.returncode == 0, result.stderr
    assert "700 events could not be written and were lost" in result.stderr
    rows = await db.fetchval("SELECT count(*) FROM analytics_events")
    assert rows == 0


QUEUE_FULL = r"""
import gc, sys, uuid
import psutil
from lib_analytics_core import AnalyticsClient, AnalyticsWorker
from tests._faults import SeqEvent

capacity, n = int(sys.argv[1]), int(sys.argv[2])
client, cfg = AnalyticsClient.new(
    batch_size=100, flush_interval_secs=3600, queue_capacity=capacity,
    max_batch_size=100,
)
# A worker that exists but can never drain (no run()): the queue only fills.
worker = AnalyticsWorker(cfg, "postgresql://nobody@127.0.0.1:1/none")
proc = psutil.Process()
gc.collect()
base = proc.memory_info().rss
user = uuid.uuid4()
for seq in range(n):
    client.track(SeqEvent(run="full", seq=seq, user_id=user))
gc.collect()
grown = proc.memory_info().rss - base
s = worker.stats()
print(s.tracked, s.queue_depth, s.dropped, grown)
"""


@pytest.mark.slow
def test_queue_full_drops_are_counted_exactly_and_memory_stays_bounded() -> None:
    capacity, n = 20_000, 1_000_000
    result = run_script(QUEUE_FULL, str(capacity), str(n), timeout=300)
    assert result.returncode == 0, result.stderr
    tracked, depth, dropped, grown = (int(x) for x in result.stdout.split())
    assert (tracked, depth, dropped) == (n, capacity, n - capacity)
    # 1M queued events would take hundreds of MB; 20,000 take a few MB. The bound is
    # generous (allocator noise), and still 10x below what an unbounded queue needs.
    assert grown < 40 * 1024 * 1024, f"RSS grew by {grown} bytes"
    assert "dropping events" in result.stderr  # reported...
    assert result.stderr.count("dropping events") == 1  # ...rate-limited, not per event
