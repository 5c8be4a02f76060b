"""``analytics-demo`` end to end, as a user runs it (subprocess), on a short span."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys

import asyncpg


def demo(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "ANALYTICS_API_TOKEN")}
    env["COLUMNS"] = "160"
    return subprocess.run(
        [sys.executable, "-m", "lib_analytics_core.demo.command", *args],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        check=False,
    )


async def count_events(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM analytics_events"))
    finally:
        await conn.close()


async def test_demo_simulates_refreshes_and_summarises(database_url: str) -> None:
    proc = demo(
        *("--database-url", database_url, "--days", "3", "--users", "60", "--seed", "5"),
        "--no-progress",
    )
    out = proc.stdout
    assert proc.returncode == 0, proc.stdout + proc.stderr
    match = re.search(r"wrote ([\d,]+) events", out)
    assert match is not None, out
    written = int(match.group(1).replace(",", ""))
    assert written > 1000
    for heading in (
        "Active users",
        "DAU",
        "WAU",
        "MAU",
        "Tasks",
        "API latency by service",
        "Top errors",
    ):
        assert heading in out, heading
    for service in ("platform", "auth", "integrations", "signaling"):
        assert re.search(rf"│ {service}\s+│\s+[\d,]+ │", out), service
    # The DAU row says which day it is, by the one definition (docs/api.md).
    yesterday = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)).isoformat()
    today = dt.datetime.now(dt.UTC).date().isoformat()
    assert re.search(rf"last whole UTC day, ({yesterday}|{today})", out), out

    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM analytics_events") == written
        assert await conn.fetchval("SELECT count(DISTINCT service) FROM analytics_events") == 4
        api = await conn.fetchval(
            "SELECT count(*) FROM analytics_events WHERE event_type = 'api_request'"
        )
        assert await conn.fetchval("SELECT sum(requests) FROM analytics_api_latency_hourly") == api
        dau = await conn.fetch(
            "SELECT day, count(*) AS n FROM analytics_daily_active_users GROUP BY day"
        )
        assert len(dau) >= 3 and all(r["n"] > 0 for r in dau)
        assert await conn.fetchval("SELECT sum(created) FROM analytics_task_stats_daily") > 0
        assert await conn.fetchval("SELECT count(*) FROM analytics_dead_letters") == 0
    finally:
        await conn.close()


async def test_demo_refuses_a_database_that_holds_events_unless_appending(
    database_url: str,
) -> None:
    """Issue 20: a second run into the same --database-url doubled every count."""
    args = ("--database-url", database_url, "--days", "1", "--users", "20", "--no-progress")
    first = demo(*args)
    assert first.returncode == 0, first.stdout + first.stderr
    written = await count_events(database_url)
    assert written > 0
    again = demo(*args)
    assert again.returncode == 2, again.stdout + again.stderr
    assert "already holds events" in again.stdout and "--append" in again.stdout, again.stdout
    assert await count_events(database_url) == written  # nothing written
    more = demo(*args, "--append")
    assert more.returncode == 0, more.stdout + more.stderr
    assert await count_events(database_url) > written
    usage = demo("--help")
    assert "--append" in usage.stdout and "double" in usage.stdout
