"""Prometheus export of :meth:`IngestService.stats` (the ``prometheus`` extra).

Like the worker's collector: read ``stats()`` at scrape time, nothing per message.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import start_http_server
from prometheus_client.core import REGISTRY, CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

if TYPE_CHECKING:
    from .ingest import IngestService

__all__ = ["IngestCollector", "serve_ingest_metrics"]

_COUNTERS = {
    "rows_written": "Rows stored by this process.",
    "dead_lettered": "Rows stored in analytics_dead_letters by this process.",
    "messages": "Bus messages acknowledged after commit.",
    "batches": "Successful batch writes.",
    "failed_batches": "Failed batch writes (messages not acknowledged, redelivered later).",
    "redelivered_messages": "Messages received that had been delivered before.",
    "malformed": "Messages that could not be decoded (terminated).",
    "poisoned": "Messages that kept failing: rows dead-lettered, message acknowledged.",
}
_GAUGES = {
    "pending": "Consumer lag: messages not yet delivered to any replica.",
    "ack_pending": "Messages delivered and not yet acknowledged.",
    "rows_per_sec": "Rows written per second (recent).",
    "healthy": "1 when connected and the last write succeeded.",
    "last_error_at": "Unix time of the last error (0 if none).",
}


class IngestCollector(Collector):
    """Exports ``analytics_ingest_*`` metrics from one service's stats()."""

    def __init__(self, service: IngestService, prefix: str = "analytics_ingest") -> None:
        self._service = service
        self._prefix = prefix

    def collect(self) -> Iterator[Metric]:
        stats = self._service.stats().as_dict()
        for name, doc in _COUNTERS.items():
            yield CounterMetricFamily(f"{self._prefix}_{name}", doc, value=float(stats[name]))
        for name, doc in _GAUGES.items():
            yield GaugeMetricFamily(f"{self._prefix}_{name}", doc, value=float(stats[name]))


def serve_ingest_metrics(
    service: IngestService, port: int, registry: CollectorRegistry = REGISTRY
) -> None:
    """Register the collector and serve ``/metrics`` on ``port`` (a daemon thread)."""
    registry.register(IngestCollector(service))
    start_http_server(port, registry=registry)
