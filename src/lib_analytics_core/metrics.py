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

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from ._errors import ConfigurationError
from .ingest.stats import WorkerStats
from .schema.health import SchemaHealth, schema_health

try:
    from prometheus_client.core import (
        REGISTRY,
        CounterMetricFamily,
        GaugeMetricFamily,
        Metric,
    )
    from prometheus_client.registry import Collector, CollectorRegistry
except ImportError as err:  # pragma: no cover - exercised only without the extra
    from ._extras import install_hint

    raise ImportError(
        f"lib_analytics_core.metrics needs prometheus-client: {install_hint('prometheus')}"
    ) from err

__all__ = [
    "COUNTERS",
    "GAUGES",
    "AnalyticsCollector",
    "SchemaHealthCollector",
    "register_schema_health_metrics",
    "register_worker_metrics",
]


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
    "spool_failures": "Spool calls that failed (full or broken disk, size cap).",
    "replay_rejected": "Spooled events refused by the sink when replayed (dead-lettered).",
    "dead_letter_retries": "Failed attempts to store dead letters that were retried.",
}
#: stats() field -> help text, exported as ``<prefix>_<field>`` gauges.
GAUGES: Mapping[str, str] = {
    "queue_depth": "Events waiting in memory for the worker.",
    "in_flight": "Events in the batch being written right now.",
    "spool_bytes": "Bytes held in the spool directory.",
    "spool_full": "1 while the spool cannot append for lack of space (disk full or cap).",
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


# --------------------------------------------------------------------------------------
# Schema health (owned by the schema layer): job health and aggregate staleness.
# --------------------------------------------------------------------------------------


class SchemaHealthCollector(Collector):
    """Exports :func:`~lib_analytics_core.schema_health` at scrape time.

    Why a DSN and a private thread: scrapes arrive on whatever thread the exporter
    uses (its own HTTP thread, or inside an ASGI app's event loop), and an asyncpg pool
    belongs to one loop. Each refresh opens one short connection from ``dsn`` in a
    thread with its own loop, bounded by ``timeout``; results are reused for
    ``min_interval`` seconds so frequent scrapes do not load the database. A failed
    check exports ``<prefix>_schema_health_up 0`` (and logs nothing per scrape).
    """

    def __init__(
        self,
        dsn: str,
        *,
        prefix: str = "analytics",
        min_interval: float = 30.0,
        timeout: float = 10.0,
    ) -> None:
        if not prefix.replace("_", "").isalnum():
            raise ConfigurationError(f"metric prefix must be [A-Za-z0-9_], got {prefix!r}")
        self._dsn = dsn
        self._prefix = prefix
        self._min_interval = min_interval
        self._timeout = timeout
        self._lock = threading.Lock()
        self._cached: tuple[float, SchemaHealth | None] | None = None

    def _health(self) -> SchemaHealth | None:
        with self._lock:
            now = time.monotonic()
            if self._cached is not None and now - self._cached[0] < self._min_interval:
                return self._cached[1]
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                future = pool.submit(asyncio.run, schema_health(self._dsn))
                try:
                    health: SchemaHealth | None = future.result(self._timeout)
                except Exception:  # exported as up == 0; the scrape must not fail
                    health = None
            self._cached = (now, health)
            return health

    def describe(self) -> Iterator[Metric]:
        yield from self._families(None)

    def collect(self) -> Iterator[Metric]:
        yield from self._families(self._health(), scraped=True)

    def _families(self, health: SchemaHealth | None, *, scraped: bool = False) -> Iterator[Metric]:
        p = self._prefix
        up = GaugeMetricFamily(f"{p}_schema_health_up", "1 if the schema health check ran.")
        if scraped:
            up.add_metric([], 1.0 if health is not None else 0.0)
        yield up
        stale = GaugeMetricFamily(
            f"{p}_aggregate_staleness_seconds",
            "How long ago the oldest source bucket missing from the aggregate began (0: current).",
            labels=["aggregate"],
        )
        newest = GaugeMetricFamily(
            f"{p}_aggregate_newest_bucket_timestamp_seconds",
            "Unix time of the aggregate's newest materialised bucket.",
            labels=["aggregate"],
        )
        failing = GaugeMetricFamily(
            f"{p}_schema_job_failing",
            "1 if the TimescaleDB job's latest run failed.",
            labels=["job_id", "kind", "target"],
        )
        fails = GaugeMetricFamily(
            f"{p}_schema_job_consecutive_failures",
            "Failed runs in a row of the TimescaleDB job.",
            labels=["job_id", "kind", "target"],
        )
        success = GaugeMetricFamily(
            f"{p}_schema_job_last_success_timestamp_seconds",
            "Unix time of the job's last successful run (absent: never).",
            labels=["job_id", "kind", "target"],
        )
        changed = GaugeMetricFamily(
            f"{p}_schema_migrations_changed",
            "Applied migrations whose shipped file changed (must be 0).",
        )
        if health is not None:
            for a in health.aggregates:
                stale.add_metric([a.name], a.staleness.total_seconds())
                if a.newest_bucket is not None:
                    newest.add_metric([a.name], a.newest_bucket.timestamp())
            for j in health.jobs:
                labels = [str(j.job_id), j.kind, j.target]
                failing.add_metric(labels, 1.0 if j.failing else 0.0)
                fails.add_metric(labels, float(j.consecutive_failures))
                if j.last_successful_finish is not None:
                    success.add_metric(labels, j.last_successful_finish.timestamp())
            changed.add_metric([], float(len(health.changed_migrations)))
        yield from (stale, newest, failing, fails, success, changed)


def register_schema_health_metrics(
    dsn: str,
    registry: CollectorRegistry | Any = REGISTRY,
    *,
    prefix: str = "analytics",
    min_interval: float = 30.0,
) -> SchemaHealthCollector:
    """Register a :class:`SchemaHealthCollector` for the database at ``dsn``; alert on
    ``analytics_aggregate_staleness_seconds > 7200`` and ``analytics_schema_job_failing``."""
    collector = SchemaHealthCollector(dsn, prefix=prefix, min_interval=min_interval)
    registry.register(collector)
    return collector
