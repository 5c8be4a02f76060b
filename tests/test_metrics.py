"""Prometheus export: scrape a registry and find the worker's stats() numbers."""

from __future__ import annotations

import asyncpg
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from lib_analytics_core import AnalyticsClient, AnalyticsWorker, ApiRequest
from lib_analytics_core.metrics import COUNTERS, GAUGES, register_worker_metrics
from tests._faults import SeqEvent


def scrape(registry: CollectorRegistry) -> dict[str, float]:
    text = generate_latest(registry).decode()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            key = sample.name
            if "error" in sample.labels:
                key += "{" + sample.labels["error"] + "}"
            out[key] = sample.value
    return out


async def test_scrape_reports_the_worker_counters(
    database_url: str, db: asyncpg.Connection
) -> None:
    client, cfg = AnalyticsClient.new(
        batch_size=50, flush_interval_secs=3600, queue_capacity=100, max_batch_size=100
    )
    worker = AnalyticsWorker(cfg, database_url)
    registry = CollectorRegistry()
    register_worker_metrics(worker, registry, labels={"service": "api"})
    for seq in range(60):
        client.track(SeqEvent(run="m", seq=seq))
    client.track(
        ApiRequest(service="x", method="GET", endpoint="\x00", status_code=200, duration_ms=1)
    )
    assert await worker.flush(30)
    for seq in range(120):  # 100 fit the queue, 20 are dropped
        client.track(SeqEvent(run="m2", seq=seq))

    got = scrape(registry)
    stats = worker.stats()
    assert got["analytics_tracked_total"] == stats.tracked == 181
    assert got["analytics_written_total"] == stats.written == 60
    assert got["analytics_rejected_total"] == stats.rejected == 1
    assert got["analytics_dropped_total"] == stats.dropped == 20
    assert got["analytics_queue_depth"] == stats.queue_depth == 100
    assert got["analytics_batches_total"] == stats.batches == 1
    for field in COUNTERS:
        assert got[f"analytics_{field}_total"] == float(getattr(stats, field))
    for field in GAUGES:
        assert got[f"analytics_{field}"] == float(getattr(stats, field) or 0)
    assert not any(k.startswith("analytics_last_error_info") for k in got)
    assert await db.fetchval("SELECT count(*) FROM analytics_events") == 60


async def test_last_error_is_exported_after_a_failure() -> None:
    _client, cfg = AnalyticsClient.new(
        batch_size=10, flush_interval_secs=3600, initial_backoff_secs=0.01, max_backoff_secs=0.02
    )
    worker = AnalyticsWorker(cfg, "postgresql://postgres@127.0.0.1:1/none")
    registry = CollectorRegistry()
    register_worker_metrics(worker, registry, prefix="lac")
    _client.track(SeqEvent(run="e", seq=0))
    report = await worker.shutdown(0.3)
    got = scrape(registry)
    assert report.lost == 1 and got["lac_lost_total"] == 1
    assert got["lac_retried_total"] >= 1
    assert got["lac_last_error_at"] > 0
    [key] = [k for k in got if k.startswith("lac_last_error_info")]
    assert "Error" in key


def test_bad_prefix_is_refused() -> None:
    _client, cfg = AnalyticsClient.new()
    worker = AnalyticsWorker(cfg, "postgresql://x@127.0.0.1:1/none")
    from lib_analytics_core import ConfigurationError

    with pytest.raises(ConfigurationError):
        register_worker_metrics(worker, CollectorRegistry(), prefix="bad-prefix")
