"""The batch wire format: what one JetStream message carries.

A message is a msgpack array ``[version, rows]`` (msgspec, ``array_like`` structs: no
field names on the wire). Timestamps use msgpack's timestamp extension (exact to the
microsecond, time zone UTC); UUIDs travel as 16 raw bytes; ``data`` is the event's JSON
text exactly as the worker encoded it, so the ingest service stores byte-for-byte what
the direct path would have stored. About 40 bytes of framing per row on top of the JSON.

``version`` lets a newer producer and an older ``analytics-ingest`` (or the reverse)
meet during a rolling deploy: a reader refuses, with a clear error, a version it does
not know instead of storing garbage. The ingest service counts such messages as
malformed and terminates them (they stay visible in its stats and logs).
"""

from __future__ import annotations

import datetime as _dt
import uuid
from collections.abc import Sequence

import msgspec

from .._errors import BusError
from ..ingest.encoding import Rejected, Row

__all__ = [
    "FORMAT_VERSION",
    "decode_rejected",
    "decode_rows",
    "encode_rejected",
    "encode_rows",
]

#: Bumped whenever the layout below changes; readers refuse versions they do not know.
FORMAT_VERSION = 1

_RowWire = tuple[_dt.datetime, uuid.UUID, str, str, "uuid.UUID | None", str]
_RejectedWire = tuple[_dt.datetime, uuid.UUID, str, str, str, str, "str | None"]


class _RowsMessage(msgspec.Struct, array_like=True, frozen=True):
    v: int
    rows: list[_RowWire]


class _RejectedMessage(msgspec.Struct, array_like=True, frozen=True):
    v: int
    rejected: list[_RejectedWire]


class _Version(msgspec.Struct, array_like=True):
    """Only the leading version, so an unknown layout is reported as such."""

    v: int


_encoder = msgspec.msgpack.Encoder(uuid_format="bytes")
_rows_decoder = msgspec.msgpack.Decoder(_RowsMessage)
_rejected_decoder = msgspec.msgpack.Decoder(_RejectedMessage)
_version_decoder = msgspec.msgpack.Decoder(_Version)


def encode_rows(rows: Sequence[Row]) -> bytes:
    """One message body for ``rows`` (a list of :data:`~..ingest.encoding.Row`)."""
    return _encoder.encode((FORMAT_VERSION, rows))


def encode_rejected(rejected: Sequence[Rejected]) -> bytes:
    """One message body for rows refused on the producer side (dead letters)."""
    return _encoder.encode(
        (
            FORMAT_VERSION,
            [
                (r.timestamp, r.event_id, r.event_type, r.service, r.payload, r.error, r.sqlstate)
                for r in rejected
            ],
        )
    )


def _check_version(data: bytes, err: msgspec.DecodeError) -> BusError:
    try:
        version = _version_decoder.decode(data).v
    except msgspec.DecodeError:
        return BusError(f"malformed bus message: {err}")
    if version != FORMAT_VERSION:
        return BusError(
            f"bus message format version {version} is not supported by this reader "
            f"(it reads version {FORMAT_VERSION}); upgrade analytics-ingest"
        )
    return BusError(f"malformed bus message: {err}")


def decode_rows(data: bytes) -> list[Row]:
    """The rows of a message body; :class:`BusError` if it is not a valid batch."""
    try:
        message = _rows_decoder.decode(data)
    except msgspec.DecodeError as err:
        raise _check_version(data, err) from err
    if message.v != FORMAT_VERSION:
        raise _check_version(data, msgspec.DecodeError("version"))
    return message.rows


def decode_rejected(data: bytes) -> list[Rejected]:
    """The dead letters of a message body; :class:`BusError` if it is not valid."""
    try:
        message = _rejected_decoder.decode(data)
    except msgspec.DecodeError as err:
        raise _check_version(data, err) from err
    if message.v != FORMAT_VERSION:
        raise _check_version(data, msgspec.DecodeError("version"))
    return [Rejected(*r) for r in message.rejected]
