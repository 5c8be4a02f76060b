"""Helpers for the integration tests: a real client + thread worker, and row readers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg

from lib_analytics_core import AnalyticsClient, AnalyticsWorker, ThreadedWorker

SERVICE = "itest"


@contextmanager
def tracking(database_url: str, **options: Any) -> Iterator[tuple[AnalyticsClient, ThreadedWorker]]:
    """A client and a thread-hosted worker writing to ``database_url``; flushed on exit."""
    options.setdefault("service_name", SERVICE)
    client, cfg = AnalyticsClient.new(batch_size=50, flush_interval_secs=0.05, **options)
    threaded = AnalyticsWorker.start_in_thread(cfg, database_url, register_atexit=False)
    try:
        yield client, threaded
        assert threaded.flush(timeout=30), "worker did not flush"
    finally:
        report = threaded.shutdown(timeout=30)
        assert report.lost == 0


async def rows(conn: asyncpg.Connection, event_type: str) -> list[dict[str, Any]]:
    """Stored rows of one event type, oldest first, with ``data`` decoded."""
    records = await conn.fetch(
        'SELECT "timestamp", event_type, service, user_id, data FROM analytics_events '
        'WHERE event_type = $1 ORDER BY "timestamp", event_id',
        event_type,
    )
    out = []
    for r in records:
        item = dict(r)
        item["data"] = json.loads(r["data"]) if isinstance(r["data"], str) else r["data"]
        out.append(item)
    return out


def by_endpoint(stored: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in stored:
        grouped.setdefault(row["data"]["endpoint"], []).append(row)
    return grouped
