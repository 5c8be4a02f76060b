"""What keeping the numbers fresh costs: the maintainer's tick against a cron's pass.

``python benchmarks/bench_freshness.py --events 1000000 [--database-url ADMIN_DSN]``
(run it under ``flock /work/team/bench.lock``): migrates a fresh database on the server,
loads ``--events`` events over 30 days ending now (server-side, ``bench_queries.load_raw``)
and brings every aggregate current. Then, side by side in one run:

* **tick, idle**: one :class:`~lib_analytics_core.schema.maintainer.Maintainer` tick
  with nothing written since the last (the lease renewal plus the checks): what every
  process pays per ``refresh_every`` (15 s) when the database is quiet;
* **tick, after a batch**: ``--batch`` new events of today written, then one tick (the
  holder's ``refresh_recent``: the invalidated day on the partitioned tier; yesterday
  and today's continuous aggregates and rollups on the timescale tier), ``--reps`` times;
* **maintain()**: the whole pass a cron would run (partitions, retention, the 3-day
  window, compression), the baseline the maintainer replaces for freshness.

The share of one core at the default schedule is ``tick / refresh_every``. The last line
is JSON with every figure. Works on plain PostgreSQL and on a native TimescaleDB (the
tier is the server's: ``migrate``'s auto choice).
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

from lib_analytics_core.schema.maintainer import Maintainer, MaintainerSchedule, Role
from lib_analytics_core.schema.maintenance import maintain
from lib_analytics_core.schema.server import recorded_tier

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_queries
from _common import bench_database, database_url, machine_description, summarize, table

SCHEDULE = MaintainerSchedule()  # the defaults: what production runs
_BATCH_SQL = """
INSERT INTO analytics_events ("timestamp", event_id, event_type, service, user_id, data)
SELECT now() - (random() * interval '10 minutes'), gen_random_uuid(),
       (ARRAY['api_request','task_completed','task_created','custom_signup'])[1 + i % 4],
       'svc-' || (i % 5), md5((i % 5000)::text)::uuid,
       jsonb_build_object('endpoint', '/v1/e' || (i % 40), 'method', 'GET',
                          'status_code', 200 + (i % 7 = 0)::int * 300,
                          'duration_ms', (random() * 400)::int, 'service', 'svc-' || (i % 5))
FROM generate_series(1, $1) AS i
"""

_CHECK_SQL = """
SELECT (SELECT count(*) FROM analytics_events
        WHERE "timestamp" >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'),
       (SELECT coalesce(sum(events), 0) FROM analytics_event_trends_daily
        WHERE bucket >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')
"""


async def _timed(coro: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = await coro
    return (time.perf_counter() - t0) * 1000, out


async def run(admin: str, events: int, batch: int, reps: int) -> dict[str, Any]:
    async with bench_database(admin) as url:
        now = dt.datetime.now(dt.UTC)
        loaded = await bench_queries.load_raw(url, events, now - dt.timedelta(days=30), now)
        conn = await asyncpg.connect(url)
        maintainer = Maintainer(url, host="bench", schedule=SCHEDULE)
        try:
            tier = (await recorded_tier(conn)).value
            print(f"loaded: {loaded}", flush=True)
            whole = [(await _timed(maintain(conn)))[0] for _ in range(2)]
            print(f"maintain() ms: {whole}", flush=True)
            first, role = await _timed(maintainer.tick())  # the first tick: a whole pass
            assert role is Role.HOLDER, maintainer.last_error
            idle = [(await _timed(maintainer.tick()))[0] for _ in range(reps)]
            print(f"first tick ms: {first:.1f}; idle ticks ms: {idle}", flush=True)
            after: list[float] = []
            for _ in range(reps):
                await conn.execute(_BATCH_SQL, batch)
                ms, role = await _timed(maintainer.tick())
                assert role is Role.HOLDER, maintainer.last_error
                after.append(ms)
                print(f"tick after {batch} events: {ms:.1f} ms", flush=True)
            # Every event written is counted after the last tick (the point of it all).
            raw, counted = await conn.fetchrow(_CHECK_SQL)
        finally:
            await maintainer.close()
            await conn.close()
    s_whole, s_idle, s_after = summarize(whole), summarize(idle), summarize(after)
    period_ms = SCHEDULE.refresh_every * 1000
    rows = [
        ("maintain() (cron's whole pass)", s_whole.p50, s_whole.p95, "-"),
        ("first tick as holder (whole pass)", round(first, 1), "-", "-"),
        ("tick, idle", s_idle.p50, s_idle.p95, f"{s_idle.p50 / period_ms:.3%}"),
        (
            f"tick after {batch} new events",
            s_after.p50,
            s_after.p95,
            f"{s_after.p50 / period_ms:.2%}",
        ),
    ]
    print(
        table(
            f"freshness cost, {tier} tier, {events:,} events (+{batch} per tick, {reps} reps)",
            ["what", "p50 ms", "p95 ms", "share of a core at 15 s"],
            rows,
        )
    )
    return {
        "tier": tier,
        "events": events,
        "batch": batch,
        "reps": reps,
        "load": loaded,
        "maintain_ms_p50": s_whole.p50,
        "first_tick_ms": round(first, 1),
        "tick_idle_ms_p50": s_idle.p50,
        "tick_idle_ms_p95": s_idle.p95,
        "tick_after_batch_ms_p50": s_after.p50,
        "tick_after_batch_ms_p95": s_after.p95,
        "core_share_after_batch": round(s_after.p50 / period_ms, 4),
        "today_raw_vs_counted": [int(raw), int(counted)],
        "machine": machine_description(),
        "loadavg": os.getloadavg(),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--database-url", help="admin DSN of the server (default: local)")
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--batch", type=int, default=1_000, help="events written before each tick")
    p.add_argument("--reps", type=int, default=10)
    args = p.parse_args()
    result = asyncio.run(run(database_url(args.database_url), args.events, args.batch, args.reps))
    print(json.dumps({"bench_freshness": result}, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
