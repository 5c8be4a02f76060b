"""``analytics-ingest``: the JetStream consumer service, between the bus and PostgreSQL.

Producers publish encoded batches through the NATS sink
(:class:`~lib_analytics_core.ingest.sinks.nats.NatsSink`, with its settings
``ingest/sinks/nats_config.py``, connection ``nats_connect.py`` and wire format
``nats_wire.py``: the producer transport lives with the other sinks).
``analytics-ingest`` replicas pull them from one durable consumer and store them through
the write path's one pipeline (``ingest.pipeline``: the PostgreSQL sink and the
delivery policy's attempts, failure accounting, backoff and dead letters),
acknowledging only after the commit.

Owns: the consumer service (:mod:`.ingest` runs it, :mod:`.settle` settles each fetch,
:mod:`.stats`, :mod:`.metrics`), its
settings (:class:`~.config.IngestConfig`), stream and consumer setup and status
(:mod:`.stream`). Imports ``ingest``, ``_config`` and ``_errors``; nothing in ``ingest``
imports ``bus`` (an import-linter contract in ``pyproject.toml``, run by
``tasks.py lint``). ``BusConfig`` and the wire functions are re-exported here, where
users have always imported them; their home is the sink side. ``nats-py`` is an
optional dependency (the ``bus`` extra), imported only by the modules that talk to a
server.

See ``docs/scaling.md`` for when to use it and how to size it.
"""

from .config import BusConfig
from .wire import FORMAT_VERSION, decode_rejected, decode_rows, encode_rejected, encode_rows

__all__ = [
    "FORMAT_VERSION",
    "BusConfig",
    "decode_rejected",
    "decode_rows",
    "encode_rejected",
    "encode_rows",
]
