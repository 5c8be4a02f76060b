"""``analytics-migrate all`` then ``status`` on a fresh TimescaleDB server (the CLI path)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timescale


def _cli(*args: str, dsn: str) -> subprocess.CompletedProcess[str]:
    script = shutil.which("analytics-migrate", path=str(Path(sys.executable).parent))
    assert script is not None
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PLATFORM_DATABASE_URL")
    }
    env["PLATFORM_DATABASE_URL"] = dsn  # the seed's alternative variable
    return subprocess.run(
        [script, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


async def test_migrate_all_then_status_on_timescaledb(timescale_url: str) -> None:
    before = await asyncio.to_thread(_cli, "status", dsn=timescale_url)
    assert before.returncode == 0, before.stderr
    assert "server: timescaledb, PostgreSQL 17" in before.stdout
    assert "license=timescale" in before.stdout
    assert "0 applied, 4 pending" in before.stdout

    applied = await asyncio.to_thread(_cli, "all", dsn=timescale_url)
    assert applied.returncode == 0, applied.stderr
    assert "applied  0001_pre_create_analytics_events" in applied.stdout
    assert "applied  0002_post_create_aggregates" in applied.stdout
    assert "applied  0003_post_active_users_rollup" in applied.stdout

    status = await asyncio.to_thread(_cli, "status", dsn=timescale_url)
    assert status.returncode == 0, status.stderr
    assert "schema tier: timescale" in status.stdout
    assert "4 applied, 0 pending" in status.stdout

    again = await asyncio.to_thread(_cli, "all", dsn=timescale_url)
    assert again.returncode == 0 and "nothing to apply" in again.stdout
