"""CSV text of answers: one rendering of a cell, for the rows Python holds and the rows
the server writes itself (``COPY ... TO STDOUT (FORMAT csv)``, :func:`._exec.copy_csv`).

A cell is what the JSON answer says, in text: date-times in ISO 8601 with ``Z`` (as the
JSON encoder writes them), numbers in their shortest round-trip form (Python's ``repr``,
PostgreSQL's ``float8out``: the same digits; a whole float may read ``373`` from the
server and ``373.0`` from Python, the same number), booleans ``true``/``false``, null an
empty cell, lists and objects as JSON. The first line names the columns.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import uuid
from collections.abc import Iterable, Sequence
from typing import Final

import msgspec

__all__ = ["ISO_SQL", "cell", "iso", "rows_csv"]

_ENCODE_JSON: Final = msgspec.json.Encoder()

#: ``column`` (timestamptz) as the text :func:`iso` writes, in SQL.
ISO_SQL: Final = "to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"


def iso(value: _dt.datetime) -> str:
    """A UTC date-time as the JSON answers write it (``2026-11-01T00:00:00Z``)."""
    return value.isoformat().replace("+00:00", "Z")


def cell(value: object) -> object:
    """One value as a CSV cell (``csv`` writes ``str()`` of what is left, "" for None)."""
    kind = type(value)
    if kind is int or kind is str or kind is float or value is None:
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, _dt.datetime):
        return iso(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | dict | tuple):
        return _ENCODE_JSON.encode(value).decode()
    return value


def rows_csv(rows: Iterable[Sequence[object]], header: Sequence[str] | None = None) -> bytes:
    """CSV text of ``rows`` (cells as :func:`cell` renders them), header line first."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if header is not None:
        writer.writerow(header)
    writer.writerows([cell(v) for v in row] for row in rows)
    return buf.getvalue().encode()
