"""``analytics-demo`` end to end, as a user runs it (subprocess), on a short span."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import asyncpg


async def test_demo_simulates_refreshes_and_summarises(database_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "ANALYTICS_API_TOKEN")}
    env["COLUMNS"] = "160"
    proc = subprocess.run(  # noqa: ASYNC221 - the demo is a separate process on purpose
        [
            sys.executable,
            "-m",
            "lib_analytics_core.demo.command",
            "--database-url",
            database_url,
            "--days",
            "3",
            "--users",
            "60",
            "--seed",
            "5",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        check=False,
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
