"""Sinks: where the delivery policy hands finished batches.

A sink only *delivers*; it does not retry, back off, spool or count. That is the
delivery policy's job, written once for every sink (OpenTelemetry's ``BatchProcessor``
over an ``Exporter``; sentry-python's worker over its transport). Two sinks exist:
``postgres`` (binary COPY / idempotent INSERT into the events table) and ``nats``
(publish to a JetStream stream for ``analytics-ingest`` writers).
"""

from .base import Sink, SinkOutcome

__all__ = ["Sink", "SinkOutcome"]
