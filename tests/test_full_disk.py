"""A spool on a full disk with the database down (issue 19): a real, small tmpfs.

Measured on the old code: ``Spool.append`` (documented "never raises") raised ENOSPC
from ``rotate()`` in its own error handler; the failed batch stayed at the head of the
pipeline so no later batch was ever released (memory grew with all traffic,
``in_flight`` went negative), shutdown re-sent and re-counted every batch, and the torn
record raised a false ``spool_corrupt``. Here the invariant, bounded memory, a visible
"spool failing" state and no false corruption are checked at every step.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lib_analytics_core import AnalyticsClient, AnalyticsWorker
from lib_analytics_core.ingest.stats import WorkerStats
from tests._faults import SeqEvent, wait_until
from tests._net import free_port


def _adds_up(s: WorkerStats) -> bool:
    return s.tracked == (
        s.written + s.rejected + s.spooled + s.lost + s.queue_depth + s.in_flight + s.dropped
    )


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 192 KiB tmpfs (root only; skipped where mounting is not allowed)."""
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=192k", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


async def test_a_full_disk_with_the_database_down_keeps_the_invariant_and_memory_bounded(
    small_tmpfs: Path,
) -> None:
    dead_dsn = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"  # nothing listens
    client, cfg = AnalyticsClient.new(
        batch_size=200,
        max_batch_size=200,
        flush_interval_secs=0.01,
        queue_capacity=5_000,
        spool_dir=small_tmpfs / "spool",
        spool_max_bytes=64 * 1024 * 1024,  # the disk fills long before the cap
        spool_after_failures=1,
        initial_backoff_secs=0.01,
        max_backoff_secs=0.05,
        write_timeout_secs=1.0,
    )
    worker = AnalyticsWorker(cfg, dead_dsn)
    task = asyncio.create_task(worker.run())
    run = uuid.uuid4().hex
    sent = 0
    for _ in range(40):
        for _ in range(250):
            client.track(SeqEvent(run=run, seq=sent, user_id=None))
            sent += 1
        attempts = worker.stats().retried

        def attempted(n: int = attempts) -> bool:
            return worker.stats().retried > n + 2

        # The worker is alive (not wedged): it keeps attempting, whatever the disk does.
        await wait_until(attempted, "more attempts", 30)
        s = worker.stats()
        assert _adds_up(s), s
        assert 0 <= s.in_flight <= 2 * 200, s  # at most two batches held: memory bounded
        assert s.queue_depth <= 5_000, s  # the rest is dropped, and counted
    s = worker.stats()
    assert s.spool_failures > 0 and s.spool_full, s  # a visible state, not an exception
    assert s.dropped > 0 and s.spooled > 0, s  # the disk filled, then the queue
    assert s.spool_corrupt == 0, s
    report = await worker.shutdown(2.0)
    with contextlib.suppress(asyncio.CancelledError):
        await task
    s = worker.stats()
    assert _adds_up(s) and s.in_flight == 0 and s.queue_depth == 0, s
    assert s.written == 0 and report.written == 0, (s, report)
    assert s.tracked == sent and s.spooled + s.lost + s.dropped == sent, s
