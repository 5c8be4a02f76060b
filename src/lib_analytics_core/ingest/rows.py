"""The one row type, the one dead-letter type, and the one binary codec for both.

Owns: :data:`Row` (the tuple every sink receives, in :data:`COLUMNS` order),
:class:`Rejected` (a row or event refused, with the reason), the msgpack encoding of
lists of either (used by the spool's records and by the bus's messages, which only add
a version in front), and :func:`storable` — a dead letter made storable *before* any
sink sees it (no NUL, no lone surrogate, bounded sizes), because a dead letter that
cannot be stored would be refused and retried for ever.

Why one codec: the spool and the bus both move rows that are later written by the same
PostgreSQL sink; two encoders drifted once already (UUIDs as text in one, as bytes in
the other). msgspec decodes a UUID from either form, so spool segments written by
earlier versions still replay.

Imports nothing from the rest of the library.
"""

from __future__ import annotations

import datetime as _dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec

__all__ = [
    "COLUMNS",
    "MAX_DEAD_LETTER_ERROR_CHARS",
    "MAX_DEAD_LETTER_PAYLOAD_CHARS",
    "Rejected",
    "Row",
    "decode_rejected",
    "decode_rows",
    "encode_rejected",
    "encode_rows",
    "refused_row",
    "storable",
    "storable_text",
]

#: Column order of every row a sink receives.
COLUMNS = ("timestamp", "event_id", "event_type", "service", "user_id", "data")

Row = tuple[_dt.datetime, uuid.UUID, str, str, uuid.UUID | None, str]

#: A dead letter keeps this much of the refused payload: enough to see what it was
#: (a 6 MB row refused by the database need not be kept whole to be diagnosed), small
#: enough to fit one bus message and never to be refused itself for its size.
MAX_DEAD_LETTER_PAYLOAD_CHARS = 64 * 1024
MAX_DEAD_LETTER_ERROR_CHARS = 2000
#: ``event_type``/``service`` are at most 100 in the events table; a dead letter keeps
#: a little more of an over-long one (that may be why it was refused).
_MAX_NAME_CHARS = 300
#: A SQLSTATE is five characters; a hostile producer's is cut, not stored whole.
_MAX_SQLSTATE_CHARS = 16


@dataclass(frozen=True, slots=True)
class Rejected:
    """An event refused (by the library, a sink or the database), with the reason."""

    timestamp: _dt.datetime
    event_id: uuid.UUID
    event_type: str
    service: str
    payload: str
    error: str
    sqlstate: str | None = None


def refused_row(
    row: Row, error: str, sqlstate: str | None = None, *, payload_chars: int | None = None
) -> Rejected:
    """The dead letter of a row that a sink or the database refused.

    Its payload is the row's ``data`` with the user id put back in front: ``data``
    leaves the id to its column (``events.base.COLUMN_FIELDS``), but a dead letter has
    no such column, and it must stay self-contained for whoever diagnoses or replays it,
    and findable by ``forget_user``, which erases a user's dead letters by the id in
    their payload. ``payload_chars`` cuts the payload (after the id, which comes first).
    """
    payload = row[5]
    user_id = row[4]
    if user_id is not None:
        text = str(user_id)
        if text not in payload:
            rest = payload.lstrip()[1:] if payload.lstrip().startswith("{") else payload
            sep = "" if rest.lstrip().startswith("}") else ","
            payload = '{"user_id":"' + text + '"' + sep + rest
    if payload_chars is not None:
        payload = payload[:payload_chars]
    return Rejected(row[0], row[1], row[2], row[3], payload, error, sqlstate)


def storable_text(text: object, limit: int) -> str:
    """``text`` as PostgreSQL ``text`` and msgpack accept it: NULs and lone surrogates
    escaped, cut to ``limit`` characters (with a note saying how much was cut)."""
    if not isinstance(text, str):
        text = repr(text)
    if "\x00" in text:
        text = text.replace("\x00", "\\u0000")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if len(text) > limit:
        cut = len(text) - limit
        text = text[:limit] + f"…[{cut} more characters]"
    return text


def storable(r: Rejected) -> Rejected:
    """``r`` with every field storable (see :func:`storable_text`); ``r`` itself when it
    already is (the common case costs a few checks)."""
    sqlstate = r.sqlstate
    fields = (r.event_type, r.service, r.payload, r.error, sqlstate or "")
    limits = (_MAX_NAME_CHARS, _MAX_NAME_CHARS, MAX_DEAD_LETTER_PAYLOAD_CHARS)
    clean = (
        isinstance(r.timestamp, _dt.datetime)
        and isinstance(r.event_id, uuid.UUID)
        and all(isinstance(f, str) and "\x00" not in f for f in fields)
        and all(len(f) <= n for f, n in zip(fields, limits, strict=False))
        and len(r.error) <= MAX_DEAD_LETTER_ERROR_CHARS
        and len(sqlstate or "") <= _MAX_SQLSTATE_CHARS
    )
    if clean:
        try:
            for f in fields:
                f.encode("utf-8")
        except UnicodeEncodeError:
            clean = False
    if clean:
        return r
    return Rejected(
        r.timestamp if isinstance(r.timestamp, _dt.datetime) else _EPOCH,
        r.event_id if isinstance(r.event_id, uuid.UUID) else uuid.uuid4(),
        storable_text(r.event_type, _MAX_NAME_CHARS),
        storable_text(r.service, _MAX_NAME_CHARS),
        storable_text(r.payload, MAX_DEAD_LETTER_PAYLOAD_CHARS),
        storable_text(r.error, MAX_DEAD_LETTER_ERROR_CHARS),
        None if sqlstate is None else storable_text(sqlstate, _MAX_SQLSTATE_CHARS),
    )


_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)

# -- the codec ------------------------------------------------------------------------

_RejectedTuple = tuple[_dt.datetime, uuid.UUID, str, str, str, str, str | None]
_encoder = msgspec.msgpack.Encoder(uuid_format="bytes")
_rows_decoder = msgspec.msgpack.Decoder(list[Row])
_rejected_decoder = msgspec.msgpack.Decoder(list[_RejectedTuple])


def encode_rows(rows: Sequence[Row]) -> bytes:
    """A msgpack array of rows (timestamps as the msgpack timestamp extension, exact to
    the microsecond; UUIDs as 16 raw bytes; ``data`` as the JSON text)."""
    return _encoder.encode(rows)


def decode_rows(data: bytes | memoryview) -> list[Row]:
    """The rows :func:`encode_rows` wrote; ``msgspec.DecodeError`` if it is not that."""
    rows: list[Row] = _rows_decoder.decode(data)
    return rows


def encode_rejected(rejected: Sequence[Rejected]) -> bytes:
    """A msgpack array of dead letters, each made :func:`storable` first."""
    return _encoder.encode(
        [
            (r.timestamp, r.event_id, r.event_type, r.service, r.payload, r.error, r.sqlstate)
            for r in map(storable, rejected)
        ]
    )


def decode_rejected(data: bytes | memoryview) -> list[Rejected]:
    """The dead letters :func:`encode_rejected` wrote."""
    return [Rejected(*t) for t in _rejected_decoder.decode(data)]
