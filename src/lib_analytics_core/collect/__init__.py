"""The HTTP collector (``analytics-collect``): events from services in any language.

Owns the seed family's ``POST /events/batch`` endpoint and ``GET /health``; write tokens
(``tokens``); body, batch and rate limits (``config``, ``ratelimit``); turning accepted
wire envelopes into ``EnrichedEvent``s with their row ``service`` and an exactly-once
``event_id`` (``batch``); and durable acknowledgement (``delivery``: the one module that
touches the write path's internals, so a change there is made in one place).

Imports ``events`` (the wire catalogue and its JSON Schemas), ``ingest`` (rows, sinks,
spool) and, through ``ingest``'s sink factory, ``bus``; ``_config`` and ``_errors``.
Nothing imports it except ``cli``.
"""
