"""``analytics-alerts`` as a process: its JSON lines, a SIGKILL in the middle of a
delivery, and a threshold rule on events the library's client wrote with ``track_at``."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import os
import signal
import subprocess
import sys
import uuid
from fractions import Fraction
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from lib_analytics_core import AnalyticsClient, AnalyticsWorker
from lib_analytics_core.alerts import parse_config
from lib_analytics_core.alerts.engine import evaluate_once
from lib_analytics_core.events.catalog import TaskFailed

from ._alerts import Receiver, config_text, write_requests

UTC = dt.UTC
T = dt.datetime(2026, 11, 20, tzinfo=UTC)
M = dt.timedelta(minutes=1)
H = dt.timedelta(hours=1)


@pytest.fixture
def receiver() -> Any:
    r = Receiver().start()
    yield r
    r.release.set()
    r.stop()


async def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run, cmd, capture_output=True, text=True, timeout=120, check=False
    )


def _cli(config: Path, url: str, at: dt.datetime) -> list[str]:
    return [
        sys.executable,
        "-m",
        "lib_analytics_core.cli.alerts",
        "evaluate",
        "--config",
        str(config),
        "--database-url",
        url,
        "--at",
        at.isoformat(),
    ]


async def test_evaluate_prints_one_json_line_per_firing_alert(
    database_url: str, db: asyncpg.Connection, receiver: Receiver, tmp_path: Path
) -> None:
    await write_requests(db, T - 3 * H, T, 0.003)
    await write_requests(db, T, T + H, 1.0)
    config = tmp_path / "alerts.toml"
    config.write_text(config_text(receiver.url))
    quiet = await _run(_cli(config, database_url, T))
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout == ""
    proc = await _run(_cli(config, database_url, T + 6 * M))
    assert proc.returncode == 0, proc.stderr
    (line,) = proc.stdout.splitlines()
    alert = json.loads(line)
    assert alert["name"] == "platform-availability" and alert["severity"] == "page"
    assert alert["since"] == (T + 6 * M).isoformat()
    assert set(alert["burn_rates"]) == {"5m", "30m", "1h", "6h", "3d"}
    assert alert["burn_rates"]["5m"] == pytest.approx(200)


async def test_sigkill_mid_delivery_then_restart_does_not_page_twice(
    database_url: str, db: asyncpg.Connection, receiver: Receiver, tmp_path: Path
) -> None:
    # The receiver holds the POST; the evaluator is killed while it waits for the answer
    # (the page is recorded, its delivery not marked). The restarted evaluator sends the
    # pending delivery again under the same key and records no second page.
    await write_requests(db, T - 3 * H, T, 0.003)
    await write_requests(db, T, T + H, 1.0)
    config = tmp_path / "alerts.toml"
    config.write_text(config_text(receiver.url))
    receiver.hold = True
    proc = await asyncio.create_subprocess_exec(
        *_cli(config, database_url, T + 5 * M),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        arrived = await asyncio.to_thread(receiver.arrived.wait, 120)
        assert arrived, "the evaluator never delivered"
        os.kill(proc.pid, signal.SIGKILL)
        assert await asyncio.wait_for(proc.wait(), 60) == -signal.SIGKILL
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    receiver.hold = False
    receiver.release.set()
    pending = await db.fetch(
        "SELECT idempotency_key FROM analytics_alert_deliveries WHERE delivered_at IS NULL"
    )
    assert len(pending) == 1
    for at in (T + 5 * M, T + 6 * M):  # the same --at again, and the next minute
        again = await _run(_cli(config, database_url, at))
        assert again.returncode == 0, again.stderr
    assert await db.fetchval("SELECT count(*) FROM analytics_alert_history") == 1
    assert (
        await db.fetchval(
            "SELECT count(*) FROM analytics_alert_deliveries WHERE delivered_at IS NOT NULL"
        )
        == 1
    )
    keys = [k for k, _ in receiver.posts]
    assert len(keys) == 2 and keys[0] == keys[1] == pending[0]["idempotency_key"]
    assert [b["severity"] for _, b in receiver.unique()] == ["page"]


async def _track_failures(dsn: str, times: list[dt.datetime]) -> None:
    client, cfg = AnalyticsClient.new(
        batch_size=100, flush_interval_secs=0.1, service_name="worker"
    )
    worker = AnalyticsWorker(cfg, dsn)
    task = asyncio.create_task(worker.run())
    for i, when in enumerate(times):
        client.track_at(
            TaskFailed(
                task_id=uuid.UUID(int=i + 1),
                user_id=uuid.UUID(int=1000 + i % 3),
                error="boom",
                duration_ms=(i * 37) % 101,
            ),
            when,
        )
    report = await worker.shutdown(timeout=60)
    await task
    assert report.lost == 0


async def test_threshold_on_task_failed_fires_and_resolves(
    database_url: str, db: asyncpg.Connection, receiver: Receiver
) -> None:
    # 12 failures at T+10m, T+11m, ..., T+21m: "count above 10 over 1h" ([at - 1h, at))
    # fires at T+21m (11 of them inside) and resolves at T+72m (T+10m and T+11m left).
    await _track_failures(database_url, [T + (10 + i) * M for i in range(12)])
    cfg = parse_config(
        config_text(
            receiver.url,
            extra="""
[[threshold]]
name = "task-failures"
event_type = "task_failed"
measure = "count"
above = 10
over = "1h"
severity = "ticket"
notify = ["ops"]

[[threshold]]
name = "failing-users"
event_type = "task_failed"
measure = "distinct_users"
above = 5
over = "1h"
notify = ["ops"]
""",
        )
    )
    states = []
    at = T + 20 * M
    while at <= T + 90 * M:
        ev = await evaluate_once(db, cfg, at=at)
        obs = {o.rule: o for o in ev.observations}
        states.append((at, obs["task-failures"].severity, obs["task-failures"].value["value"]))
        assert obs["failing-users"].severity is None  # at most 3 distinct users
        inside = [i for i in range(12) if at - H <= T + (10 + i) * M < at]
        assert obs["failing-users"].value["value"] == len({i % 3 for i in inside})
        assert obs["task-failures"].value["value"] == len(inside)
        at += M
    fired = [a for a, s, _ in states if s == "ticket"]
    assert fired[0] == T + 21 * M
    assert fired[-1] == T + 71 * M
    assert fired == [a for a, _, v in states if v > 10]
    assert [b["state"] for _, b in receiver.unique()] == ["firing", "resolved"]
    assert receiver.unique()[0][1]["value"] == 11


async def test_run_evaluates_repeatedly_and_stops_cleanly_on_sigterm(
    database_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    config = tmp_path / "alerts.toml"
    config.write_text(config_text("http://127.0.0.1:9/unused"))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "lib_analytics_core.cli.alerts",
        "run",
        "--config",
        str(config),
        "--database-url",
        database_url,
        "--interval",
        "0.2",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        seen: set[dt.datetime] = set()

        async def evaluated_twice() -> None:
            while len(seen) < 2:  # polls the condition: two evaluations recorded
                at = await db.fetchval("SELECT max(evaluated_at) FROM analytics_alert_states")
                if at is not None:
                    seen.add(at)
                await asyncio.sleep(0.05)

        await asyncio.wait_for(evaluated_twice(), 120)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 60) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.stderr is not None
    assert b"Traceback" not in await proc.stderr.read()


@pytest.mark.parametrize("q", ["p90", "p95", "p99.9", "p50"])
async def test_percentile_thresholds_match_nearest_rank(
    database_url: str, db: asyncpg.Connection, receiver: Receiver, q: str
) -> None:
    # p95/p50 come from explore, p90/p99.9 from alerts' own statement: one definition,
    # exact nearest rank, checked against sorting the values.
    times = [T + i * dt.timedelta(seconds=20) for i in range(150)]
    await _track_failures(database_url, times)
    cfg = parse_config(
        config_text(
            receiver.url,
            extra=f"""
[[threshold]]
name = "slow-failures"
event_type = "task_failed"
measure = "{q}"
field = "duration_ms"
above = 80
over = "30m"
""",
        )
    )
    at = T + 40 * M
    ev = await evaluate_once(db, cfg, at=at)
    (obs,) = [o for o in ev.observations if o.rule == "slow-failures"]
    values = sorted((i * 37) % 101 for i, t in enumerate(times) if at - 30 * M <= t < at)
    # nearest rank: the smallest value with at least q of the values at or below it
    rank = math.ceil(Fraction(q[1:]) / 100 * len(values))
    expected = values[max(rank, 1) - 1]
    assert obs.value["value"] == expected
    assert (obs.severity == "page") == (expected > 80)
