"""Sinks: where the delivery policy hands finished batches.

A sink only *delivers*; it does not retry, back off, spool or count. That is the
delivery policy's job, written once for every sink (OpenTelemetry's ``BatchProcessor``
over an ``Exporter``; sentry-python's worker over its transport). Three sinks exist:
``postgres`` (binary COPY / idempotent INSERT into the events table; its write
connections' value codecs in ``pg_codecs``), ``http`` (POST to
an ``analytics-collect`` collector) and ``nats`` (publish to a JetStream stream for
``analytics-ingest`` writers; the producer side of the bus lives here whole: its
settings ``nats_config``, connection ``nats_connect`` and wire format ``nats_wire``,
which ``bus`` imports from here). :func:`make_sink` is the one place that picks one,
so a new sink plugs in without touching the worker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..._errors import ConfigurationError
from .base import Sink, SinkOutcome

if TYPE_CHECKING:
    from ..._config import AnalyticsConfig

__all__ = ["Sink", "SinkOutcome", "make_sink"]


def make_sink(config: AnalyticsConfig, pool: Any) -> Sink:
    """The sink ``config.transport`` names: ``None`` → PostgreSQL through ``pool`` (an
    ``asyncpg.Pool``, a DSN or an async pool factory); ``nats://…`` → the NATS JetStream
    sink (imported only then: applications without NATS never load it; ``pool`` unused);
    ``http(s)://…`` → the HTTP sink to an ``analytics-collect`` collector.
    """
    if config.transport is None:
        from .postgres import PostgresSink  # noqa: PLC0415 - asyncpg only for this sink

        return PostgresSink(config, pool)
    if config.transport.startswith(("http://", "https://")):
        try:
            from .http import HttpSink  # noqa: PLC0415 - httpx only for this sink
        except ImportError as err:
            from ..._extras import install_hint  # noqa: PLC0415

            raise ConfigurationError(
                f"transport=http(s)://... needs httpx: {install_hint('http')}"
            ) from err
        return HttpSink.from_config(config)
    from .nats import NatsSink  # type: ignore[import-not-found,unused-ignore]  # noqa: PLC0415

    sink: Sink = NatsSink.from_config(config)
    return sink
