"""Whatever the raw table holds, a refresh succeeds and the good rows are all counted.

The rows below are inserted straight into ``analytics_events`` (bypassing the event
classes' own checks), as an old client, another producer or a hand-written INSERT could.
The rules the aggregate SQL applies (docs/schema.md): a JSON value that is not a number
in the expected range is ignored (a duration above 1e11 ms, a status code outside
100-599, a sample rate outside [0, 1]), a negative duration counts as 0, a success flag
counts only when it is a JSON boolean. The request itself is always counted.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import asyncpg
import pytest

import lib_analytics_core as lac

HUGE = "<1e400>"
"""Stands for the JSON number 1e400 (valid JSON and jsonb; no Python float holds it)."""

HOSTILE_API: list[dict[str, Any]] = [
    {"status_code": 2**40, "duration_ms": 10},
    {"status_code": 200, "duration_ms": 2**63},
    {"status_code": 200, "duration_ms": 2**70},
    {"status_code": -(2**63), "duration_ms": -5},
    {"status_code": "500", "duration_ms": "NaN"},
    {"status_code": None, "duration_ms": "abc"},
    {"status_code": 503, "duration_ms": [1, 2]},
    {"status_code": HUGE, "duration_ms": HUGE, "_meta": {"sample_rate": "x"}},
    {"status_code": 200, "duration_ms": 7, "_meta": {"sample_rate": 1e300}},
    {"status_code": 200.5, "duration_ms": 0.5, "_meta": {"sample_rate": -1}},
]
HOSTILE_OTHER: list[tuple[str, dict[str, Any]]] = [
    ("task_completed", {"duration_ms": 2**63}),
    ("task_completed", {"duration_ms": "NaN"}),
    ("task_failed", {"duration_ms": HUGE}),
    ("task_failed", {"duration_ms": -(2**63)}),
    ("integration_used", {"provider": "github", "success": "maybe", "duration_ms": 2**64}),
    ("integration_used", {"provider": "github", "success": 1, "duration_ms": "1"}),
    ("oauth_flow_completed", {"provider": "github", "success": "yes"}),
    ("auth_login_attempt", {"success": "yes"}),
    ("auth_code_verified", {"success": 123}),
    ("auth_session_validated", {"valid": "no"}),
    ("cocoon_disconnected", {"session_duration_ms": 2**70}),
    ("cocoon_disconnected", {"session_duration_ms": "forever"}),
    ("application_error", {"message": "x" * 100_000}),
]


async def _insert(conn: Any, rows: list[tuple[dt.datetime, str, str, dict[str, Any]]]) -> None:
    await conn.executemany(
        'INSERT INTO analytics_events ("timestamp", event_id, event_type, service, data)'
        " VALUES ($1, $2, $3, $4, $5::jsonb)",
        [
            (t, uuid.uuid4(), et, svc, json.dumps(d).replace(f'"{HUGE}"', "1e400"))
            for t, et, svc, d in rows
        ],
    )


async def _hostile_rows_never_break_a_refresh(url: str, opts: dict[str, Any]) -> None:
    conn = await asyncpg.connect(url, **opts)
    try:
        day = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        day -= dt.timedelta(days=1)
        t = day + dt.timedelta(hours=10)
        req = {"endpoint": "/v1/x", "method": "GET"}
        good: list[tuple[dt.datetime, str, str, dict[str, Any]]] = [
            (
                t,
                "api_request",
                "svc",
                {**req, "status_code": 200 + 300 * (i % 10 == 0), "duration_ms": 100 + i},
            )
            for i in range(100)
        ]
        for i in range(20):
            good.append((t, "task_completed", "svc", {"duration_ms": 1000 + i}))
            good.append(
                (
                    t,
                    "integration_used",
                    "svc",
                    {"provider": "github", "success": True, "duration_ms": 10},
                )
            )
            good.append((t, "auth_login_attempt", "svc", {"success": i % 2 == 0}))
            good.append((t, "cocoon_disconnected", "svc", {"session_duration_ms": 60_000}))
        hostile = [
            (t, "api_request", "svc", {"endpoint": "/v1/x", "method": "GET", **d})
            for d in HOSTILE_API
        ] + [(t, et, "svc", d) for et, d in HOSTILE_OTHER]
        await _insert(conn, good + hostile)

        report = await lac.refresh_aggregates(conn, start=day, end=day + dt.timedelta(days=1))
        assert report.refreshed_ranges  # and it did not raise
        end = day + dt.timedelta(days=1)

        (api,) = await lac.api_latency(
            conn, start=day, end=end, granularity="total", group_by="total"
        )
        assert api.requests == 100 + len(HOSTILE_API)  # every request counted
        assert api.errors_5xx == 10 + 1  # good 5xx plus the hostile one with a valid 503
        assert api.errors_4xx == 0
        # Durations: the 100 good ones, plus 10 (with a 2**40 status), -5 -> 0, 7 and 0.5.
        durations = [100 + i for i in range(100)] + [10, 0, 7, 0.5]
        assert api.avg_ms == pytest.approx(sum(durations) / len(durations))
        assert api.max_ms == 199
        assert api.p50_ms == pytest.approx(sorted(durations)[51], rel=0.01)
        assert api.requests_estimated == pytest.approx(api.requests)
        for granularity in ("hour", "day"):
            rows = await lac.api_latency(conn, start=day, end=end, granularity=granularity)
            assert sum(r.requests for r in rows) == api.requests

        (tasks,) = await lac.task_stats(conn, start=day, end=end)
        assert tasks.completed == 22 and tasks.failed == 2
        assert tasks.duration_count == 21  # 20 good + the negative one clamped to 0
        assert tasks.max_duration_ms == 1019
        assert tasks.p95_duration_ms == pytest.approx(1018, rel=0.01)

        (integ,) = await lac.integration_health(conn, start=day, end=end, by_day=False)
        assert (integ.used, integ.used_success, integ.used_failed) == (22, 20, 0)
        assert integ.avg_used_duration_ms == pytest.approx(200 / 22)
        (auth,) = await lac.auth_metrics(conn, start=day, end=end)
        assert (auth.login_attempts, auth.login_success, auth.login_failed) == (21, 10, 10)
        assert auth.codes_verified == auth.codes_failed == 0
        assert auth.sessions_validated == 1 and auth.sessions_invalid == 0
        (cocoon,) = await lac.cocoon_activity(conn, start=day, end=end)
        assert cocoon.disconnected == 22
        assert cocoon.session_duration_sum_ms == 20 * 60_000
        (err,) = await lac.top_errors(conn, start=day, end=end)
        assert err.errors == 1 and err.sample_message == "x" * 500
    finally:
        await conn.close()


async def test_hostile_values_postgresql(database_url: str) -> None:
    await _hostile_rows_never_break_a_refresh(database_url, {})


@pytest.mark.timescale
async def test_hostile_values_timescaledb(timescale_url: str) -> None:
    conn = await asyncpg.connect(timescale_url, statement_cache_size=0)
    try:
        await lac.migrate(conn)
    finally:
        await conn.close()
    await _hostile_rows_never_break_a_refresh(timescale_url, {"statement_cache_size": 0})
    # Where jobs run, the hourly job keeps the distribution rollups current (the last 3
    # days, yesterday's hostile rows included); run it by hand here.
    conn = await asyncpg.connect(timescale_url, statement_cache_size=0)
    try:
        job = await conn.fetchval(
            "SELECT job_id FROM timescaledb_information.jobs"
            " WHERE proc_name = 'analytics_distributions_job'"
        )
        assert job is not None
        rollup = "SELECT * FROM analytics_api_hour_endpoint ORDER BY bucket, service, endpoint"
        before = [tuple(r) for r in await conn.fetch(rollup)]
        await conn.execute("DELETE FROM analytics_api_hour_endpoint")
        await conn.execute(f"CALL run_job({int(job)})")
        assert before and [tuple(r) for r in await conn.fetch(rollup)] == before
    finally:
        await conn.close()
