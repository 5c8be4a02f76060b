"""The NATS JetStream bus: a durable, replicated log between producers and PostgreSQL.

Producers publish encoded batches through :class:`~lib_analytics_core.ingest.sinks.nats.
NatsSink`; ``analytics-ingest`` replicas pull them from one durable consumer and store
them with the PostgreSQL writer, acknowledging only after the commit.

Owns the bus settings (:mod:`.config`), the batch wire format (:mod:`.wire`), stream and
consumer setup and status (:mod:`.stream`), and the ingest service (:mod:`.ingest`,
:mod:`.stats`). Imports ``ingest`` (encoding, the writer), ``_config`` and ``_errors``;
``ingest.sinks.nats`` imports only :mod:`.config` and :mod:`.wire` from here, which
import nothing from ``ingest`` but the row type, so the two packages never form a
module-level cycle. ``nats-py`` is an optional dependency (the ``bus`` extra), imported
only by the modules that talk to a server.

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
