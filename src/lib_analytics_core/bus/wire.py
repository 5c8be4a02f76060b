"""The batch wire format, re-exported: its one home is the producer's side,
``ingest/sinks/nats_wire.py`` (the consumer only reads what the sink writes)."""

from ..ingest.sinks.nats_wire import (
    FORMAT_VERSION,
    decode_rejected,
    decode_rows,
    encode_rejected,
    encode_rows,
)

__all__ = ["FORMAT_VERSION", "decode_rejected", "decode_rows", "encode_rejected", "encode_rows"]
