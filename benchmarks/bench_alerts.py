"""One alert evaluation (20 rules: 10 SLOs, 10 thresholds) at 10M raw events (issue 27).

``python benchmarks/bench_alerts.py --events 10000000`` (under ``flock
/work/team/bench.lock``): creates ``lac_alerts_bench``, loads the generated events over
``--days`` (the production-like mix of ``bench_queries``: 70 % ``api_request`` across
five services, 404/400/503 answers, log-normal latencies; server-side ``generate_series``,
no aggregate refresh: alerts read raw rows), then:

* **first evaluation**: the SLOs' minutes filled from raw rows over their windows (30
  days), once per SLO definition: set-up, reported, not in the p95;
* **steady state**: ``evaluate_once`` at successive minutes (``--runs``, as ``run``
  does every minute), each one refreshing every SLO's last minutes from raw rows, summing
  the workbook's windows (5 min to 3 days), measuring the 10 threshold rules through
  explore and recording the states: p50/p95 of the whole evaluation;
* **baseline, like for like**: the same five windows of the same 10 SLOs summed from raw
  rows directly (one statement per SLO with a FILTER per window: what an evaluator
  without the rollup does), ``--baseline-runs`` times.

``--database NAME`` reuses (and keeps) a loaded database; ``--load-only`` loads and
stops (the load is set-up: it can be its own run under the lock). The final JSON line
carries ``alerts_eval_p95_ms``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import sys
import time
from typing import Any

import asyncpg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import database_url, server_version, summarize, table, with_database
from bench_queries import load_raw

from lib_analytics_core import migrate
from lib_analytics_core.alerts import parse_config
from lib_analytics_core.alerts.burn import WINDOWS
from lib_analytics_core.alerts.engine import evaluate_once

SERVICES = ["platform-api", "auth", "signaling", "webhooks", "scheduler"]
END = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)


def rules() -> str:
    """10 SLOs (availability and latency of each service) and 10 thresholds."""
    out = []
    for s in SERVICES:
        out.append(
            f'[[slo]]\nname = "{s}-availability"\nservice = "{s}"\nkind = "availability"\n'
            "objective = 0.995\n"
        )
        out.append(
            f'[[slo]]\nname = "{s}-latency"\nservice = "{s}"\nkind = "latency"\n'
            "threshold_ms = 100\nobjective = 0.95\n"
        )
    thresholds = [
        ("task-failures", "task_failed", "count", None, 50, "1h", []),
        ("failing-users", "task_failed", "distinct_users", None, 40, "1h", []),
        ("app-errors", "application_error", "count", None, 300, "15m", []),
        ("integration-errors", "integration_error", "count", None, 100, "1h", []),
        ("login-drop", "auth_login_attempt", "count", None, None, "15m", []),
        ("api-error-rate", "api_request", "error_rate", None, 0.05, "5m", []),
        ("api-p95", "api_request", "p95", "duration_ms", 500, "5m", []),
        (
            "checkout-p99",
            "api_request",
            "p99",
            "duration_ms",
            900,
            "15m",
            ['"service:eq:platform-api"', '"method:eq:POST"'],
        ),
        ("slow-queries", "database_query", "avg", "duration_ms", 20, "15m", []),
        ("webhook-volume", "webhook_received", "count", None, 5000, "1h", []),
    ]
    for name, et, measure, field, above, over, filters in thresholds:
        lines = [f'[[threshold]]\nname = "{name}"\nevent_type = "{et}"\nmeasure = "{measure}"']
        if field:
            lines.append(f'field = "{field}"')
        lines.append(f"above = {above}" if above is not None else "below = 10")
        lines.append(f'over = "{over}"')
        if filters:
            lines.append(f"filters = [{', '.join(filters)}]")
        out.append("\n".join(lines) + "\n")
    return "\n".join(out)


_BASELINE = """
SELECT {sums} FROM analytics_events
WHERE event_type = 'api_request' AND service = $1 AND "timestamp" >= $2 AND "timestamp" < $3
"""


async def baseline(conn: Any, at: dt.datetime) -> None:
    """The windows of the 10 SLOs straight from raw rows (module docstring)."""
    for s in SERVICES:
        for bad in ("(data->>'status_code')::int >= 500", "(data->>'duration_ms')::int > 100"):
            sums = ", ".join(
                f"count(*) FILTER (WHERE \"timestamp\" >= $3::timestamptz - INTERVAL '{w}'),"
                f" count(*) FILTER (WHERE \"timestamp\" >= $3::timestamptz - INTERVAL '{w}'"
                f" AND {bad})"
                for w in (f"{int(w.total_seconds())} s" for w in WINDOWS)
            )
            await conn.fetchrow(_BASELINE.format(sums=sums), s, at - max(WINDOWS), at)


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--database-url", help="admin DSN (default: $DATABASE_URL or local)")
    p.add_argument("--events", type=int, default=10_000_000)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--database", default="lac_alerts_bench", help="database name (reused)")
    p.add_argument("--load-only", action="store_true")
    p.add_argument("--drop", action="store_true", help="drop the database afterwards")
    p.add_argument("--runs", type=int, default=60)
    p.add_argument("--baseline-runs", type=int, default=5)
    args = p.parse_args()

    admin_url = database_url(args.database_url)
    url = with_database(admin_url, args.database)
    admin = await asyncpg.connect(admin_url)
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", args.database)
        if not exists:
            await admin.execute(f'CREATE DATABASE "{args.database}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
        rows = await conn.fetchval("SELECT count(*) FROM analytics_events")
    finally:
        await conn.close()
    loaded: dict[str, Any] = {"rows": rows, "reused": bool(rows)}
    if not rows:
        stats = await load_raw(
            url, args.events, END - dt.timedelta(days=args.days), END, refresh=False
        )
        loaded = {"rows": stats["rows_total"], "reused": False, **stats}
        print(f"loaded: {loaded}", flush=True)
    if args.load_only:
        return

    config = parse_config(rules())
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "TRUNCATE analytics_alert_minutes, analytics_alert_rollups,"
            " analytics_alert_states, analytics_alert_history CASCADE"
        )
        start = END - dt.timedelta(hours=3)
        t0 = time.perf_counter()
        await evaluate_once(conn, config, at=start)
        first_ms = (time.perf_counter() - t0) * 1000
        times = []
        for k in range(1, args.runs + 1):
            t0 = time.perf_counter()
            ev = await evaluate_once(conn, config, at=start + k * dt.timedelta(minutes=1))
            times.append((time.perf_counter() - t0) * 1000)
        firing = len(ev.firing)
        base = []
        for k in range(args.baseline_runs):
            t0 = time.perf_counter()
            await baseline(conn, start + k * dt.timedelta(minutes=1))
            base.append((time.perf_counter() - t0) * 1000)
        minutes = await conn.fetchval("SELECT count(*) FROM analytics_alert_minutes")
    finally:
        await conn.close()
    s, b = summarize(times), summarize(base)
    print(
        table(
            f"One evaluation of 20 rules (10 SLOs, 10 thresholds) at {loaded['rows']:,} events",
            ["what", "runs", "p50 ms", "p95 ms", "max ms"],
            [
                ["first evaluation (fills 30 d of minutes)", 1, first_ms, first_ms, first_ms],
                ["evaluate_once, every minute", s.n, s.p50, s.p95, max(times)],
                ["baseline: the SLO windows from raw rows", b.n, b.p50, b.p95, max(base)],
            ],
        )
    )
    print(
        json.dumps(
            {
                "events": loaded["rows"],
                "server": await server_version(url),
                "rules": 20,
                "first_eval_ms": round(first_ms, 1),
                "alerts_eval_p50_ms": round(s.p50, 1),
                "raw_windows_p95_ms": round(b.p95, 1),
                "minutes_rows": minutes,
                "firing": firing,
                "alerts_eval_p95_ms": round(s.p95, 1),
            }
        )
    )
    if args.drop:
        admin = await asyncpg.connect(admin_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        finally:
            await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
