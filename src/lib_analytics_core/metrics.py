"""Prometheus export of a worker's :meth:`~lib_analytics_core.AnalyticsWorker.stats`.

Why Prometheus (``prometheus-client``, the ``prometheus`` extra) and not OpenTelemetry:
the numbers already exist as counters inside the worker, so the cheapest correct export
is a *custom collector* that reads ``stats()`` at scrape time: no per-event or
per-batch metric calls, no background thread, no SDK/exporter pipeline to configure,
and a pull model that works unchanged under pre-fork servers (each process is scraped,
or uses the client's multiprocess mode). OpenTelemetry users can scrape the same
endpoint with the collector's Prometheus receiver.

Usage::

    from lib_analytics_core.metrics import register_worker_metrics
    register_worker_metrics(worker)            # default registry, default prefix
    # then expose it: prometheus_client.start_http_server(9100) or your framework's
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from ._errors import ConfigurationError
from .ingest.stats import WorkerStats

try:
    from prometheus_client.core import (
        REGISTRY,
        CounterMetricFamily,
        GaugeMetricFamily,
        Metric,
    )
    from prometheus_client.registry import Collector, CollectorRegistry
except ImportError as err:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "lib_analytics_core.metrics needs prometheus-client: "
        "pip install 'lib-analytics-core[prometheus]'"
    ) from err

__all__ = ["COUNTERS", "GAUGES", "AnalyticsCollector", "register_worker_metrics"]


class _HasStats(Protocol):
    def stats(self) -> WorkerStats: ...


#: stats() field -> help text, exported as ``<prefix>_<field>_total`` counters.
COUNTERS: Mapping[str, str] = {
    "tracked": "Events accepted or refused by track() (written + queued + dropped + ...).",
    "written": "Events stored in the events table by live writes.",
    "dropped": "Events track() refused because the queue was full.",
    "retried": "Failed write attempts (each was retried, spooled or given up on).",
    "rejected": "Events refused (by the library or the database) and dead-lettered.",
    "spooled": "Events written to the on-disk spool because the database was unavailable.",
    "replayed": "Spooled events later stored from the spool.",
    "lost": "Events given up on at the shutdown deadline with no spool to take them.",
    "sampled_out": "Events discarded by configured sampling.",
    "hook_dropped": "Events a before_track hook discarded.",
    "batches": "Successful batch writes.",
    "spool_corrupt": "Spool records found corrupt and skipped during replay.",
}
#: stats() field -> help text, exported as ``<prefix>_<field>`` gauges.
GAUGES: Mapping[str, str] = {
    "queue_depth": "Events waiting in memory for the worker.",
    "in_flight": "Events in the batch being written right now.",
    "spool_bytes": "Bytes held in the spool directory.",
    "last_error_at": "Unix time of the last write error (0 if none).",
}


class AnalyticsCollector(Collector):
    """Reads ``source.stats()`` on every scrape. ``source``: a worker or threaded worker."""

    def __init__(
        self,
        source: _HasStats,
        *,
        prefix: str = "analytics",
        labels: Mapping[str, str] | None = None,
    ) -> None:
        if not prefix.replace("_", "").isalnum():
            raise ConfigurationError(f"metric prefix must be [A-Za-z0-9_], got {prefix!r}")
        self._source = source
        self._prefix = prefix
        self._labels = dict(labels or {})

    def describe(self) -> Iterator[Metric]:
        # Describing without scraping lets registration check for name clashes without
        # calling stats() (which may touch the spool directory).
        yield from self._families(None)

    def collect(self) -> Iterator[Metric]:
        yield from self._families(self._source.stats())

    def _families(self, stats: WorkerStats | None) -> Iterator[Metric]:
        names = list(self._labels)
        values = list(self._labels.values())
        for field, doc in COUNTERS.items():
            c = CounterMetricFamily(f"{self._prefix}_{field}", doc, labels=names)
            if stats is not None:
                c.add_metric(values, float(getattr(stats, field)))
            yield c
        for field, doc in GAUGES.items():
            g = GaugeMetricFamily(f"{self._prefix}_{field}", doc, labels=names)
            if stats is not None:
                g.add_metric(values, float(getattr(stats, field) or 0))
            yield g
        up = GaugeMetricFamily(
            f"{self._prefix}_last_error_info",
            "1, labelled with the last write error's type (absent if none).",
            labels=[*names, "error"],
        )
        if stats is not None and stats.last_error:
            up.add_metric([*values, stats.last_error.split(":", 1)[0]], 1.0)
        yield up


def register_worker_metrics(
    source: _HasStats,
    registry: CollectorRegistry | Any = REGISTRY,
    *,
    prefix: str = "analytics",
    labels: Mapping[str, str] | None = None,
) -> AnalyticsCollector:
    """Register an :class:`AnalyticsCollector` for ``source`` and return it
    (``registry.unregister(collector)`` removes it)."""
    collector = AnalyticsCollector(source, prefix=prefix, labels=labels)
    registry.register(collector)
    return collector
