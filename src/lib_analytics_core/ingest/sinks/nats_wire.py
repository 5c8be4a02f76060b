"""The batch wire format: what one JetStream message carries.

Written by the producer (:class:`~.nats.NatsSink`), read by ``analytics-ingest``
(``bus/ingest.py``): its one home is here, on the sink side, which imports nothing
from ``bus``.

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

from collections.abc import Callable, Sequence
from typing import TypeVar

import msgspec

from ..._errors import BusError
from .. import rows as codec
from ..rows import Rejected, Row

__all__ = [
    "FORMAT_VERSION",
    "decode_rejected",
    "decode_rows",
    "encode_rejected",
    "encode_rows",
]

_T = TypeVar("_T")

#: Bumped whenever the layout below changes; readers refuse versions they do not know.
FORMAT_VERSION = 1

#: ``[version, …]`` as msgpack writes it: a 2-element array, then the version (a
#: positive fixint). The body after it is exactly what the row codec writes, so the bus
#: and the spool share one encoder (``ingest.rows``).
_PREFIX = bytes((0x92, FORMAT_VERSION))


class _Version(msgspec.Struct, array_like=True):
    """Only the leading version, so an unknown layout is reported as such."""

    v: int


_version_decoder = msgspec.msgpack.Decoder(_Version)


def encode_rows(rows: Sequence[Row]) -> bytes:
    """One message body for ``rows`` (a list of :data:`~lib_analytics_core.ingest.rows.Row`)."""
    return _PREFIX + codec.encode_rows(rows)


def encode_rejected(rejected: Sequence[Rejected]) -> bytes:
    """One message body for rows refused on the producer side (dead letters)."""
    return _PREFIX + codec.encode_rejected(rejected)


def _check_version(data: bytes, err: Exception) -> BusError:
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


def _decode(data: bytes, decode: Callable[[memoryview], list[_T]]) -> list[_T]:
    if data[:2] != _PREFIX:
        raise _check_version(data, ValueError("not a version-1 message"))
    try:
        return decode(memoryview(data)[2:])
    except msgspec.DecodeError as err:
        raise _check_version(data, err) from err


def decode_rows(data: bytes) -> list[Row]:
    """The rows of a message body; :class:`BusError` if it is not a valid batch."""
    return _decode(data, codec.decode_rows)


def decode_rejected(data: bytes) -> list[Rejected]:
    """The dead letters of a message body; :class:`BusError` if it is not valid."""
    return _decode(data, codec.decode_rejected)
