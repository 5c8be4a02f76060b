"""What a transaction-mode PgBouncer costs (docs/operations.md), side by side in one run.

Two paths to the same server, same database, alternating: direct, and through a
PgBouncer 1.18 in transaction mode started here (``tests/_pgbouncer.py``). Measured:

* **write**: events/s from ``track()`` to committed, one ``AnalyticsWorker`` (binary
  COPY batches of ``--batch`` events);
* **read**: small API-style queries per second through the API's own pool (behind the
  pooler each runs as ``BEGIN READ ONLY; SET LOCAL ...``, the query, ``COMMIT``).

    python benchmarks/bench_pooler.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests._pgbouncer import pgbouncer

from lib_analytics_core import AnalyticsClient, AnalyticsWorker, TaskCreated, migrate
from lib_analytics_core._dburl import with_database
from lib_analytics_core.api._database import ReadOnlyDatabase


async def _write(url: str, n: int, batch: int) -> float:
    client, cfg = AnalyticsClient.new(
        batch_size=batch,
        flush_interval_secs=0.05,
        service_name="bench",
        queue_capacity=max(n + 1, 20_000),
    )
    worker = AnalyticsWorker(cfg, url)
    task = asyncio.create_task(worker.run())
    events = [
        TaskCreated(
            task_id=uuid.uuid4(),
            user_id=uuid.uuid4(),
            project_id=None,
            cocoon_id=None,
            command="x",
        )
        for _ in range(n)
    ]
    t0 = time.perf_counter()
    for e in events:
        client.track(e)
    await worker.shutdown(timeout=600)
    elapsed = time.perf_counter() - t0
    await task
    assert worker.stats().written == n, worker.stats()
    return n / elapsed


async def _read(url: str, n: int) -> float:
    db = ReadOnlyDatabase(url, max_size=4)
    try:
        pool = await db.pool()
        await pool.fetchval("SELECT count(*) FROM analytics_events")
        t0 = time.perf_counter()
        for _ in range(n):
            await pool.fetchval("SELECT count(*) FROM analytics_events WHERE service = $1", "x")
        return n / (time.perf_counter() - t0)
    finally:
        await db.close()


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    p.add_argument("--events", type=int, default=50_000)
    p.add_argument("--batch", type=int, default=1_000)
    p.add_argument("--queries", type=int, default=2_000)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    admin = await asyncpg.connect(args.database_url)
    name = f"lac_bench_pooler_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = with_database(args.database_url, name)
    try:
        await migrate(url)
        with pgbouncer(args.database_url) as bouncer:
            paths = {"direct": url, "pgbouncer": bouncer.url(url)}
            rows: dict[str, list[tuple[float, float]]] = {k: [] for k in paths}
            for _ in range(args.rounds):
                for label, target in paths.items():
                    w = await _write(target, args.events, args.batch)
                    r = await _read(target, args.queries)
                    rows[label].append((w, r))
        print(f"load average: {os.getloadavg()}")
        print("| path | write events/s (median of rounds) | read queries/s (median) |")
        print("|---|---:|---:|")
        for label, got in rows.items():
            ws = sorted(w for w, _ in got)
            rs = sorted(r for _, r in got)
            print(f"| {label} | {ws[len(ws) // 2]:,.0f} | {rs[len(rs) // 2]:,.0f} |")
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
