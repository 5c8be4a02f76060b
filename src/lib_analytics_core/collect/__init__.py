"""The HTTP collector (``analytics-collect``): events from services in any language.

Owns the seed family's ``POST /events/batch`` endpoint and ``GET /health``; write tokens
(``tokens``); body, batch and rate limits (``config``, ``ratelimit``); turning accepted
wire envelopes into ``EnrichedEvent``s with their row ``service`` and an exactly-once
``event_id`` (``batch``); the Segment tracking spec (``segment``, ``segment_routes``);
and durable acknowledgement (``delivery``: group commit over the write path's one
assembly, ``ingest.pipeline``, the worker's sink, spool, delivery policy and row
encoder).

Imports ``events`` (the wire catalogue and its JSON Schemas), ``ingest`` (its pipeline,
encoder and row types: never the policy, spool, sinks or worker directly, an
import-linter contract), ``_config`` and ``_errors``. Never ``bus``: a ``nats://``
target is a sink of ``ingest``'s. Nothing imports it except ``cli``.
"""
