"""Query parameters of the API: declared once, validated before any SQL runs.

Every date parameter is checked against :data:`~lib_analytics_core.read.window.EARLIEST`
and :data:`~lib_analytics_core.read.window.LATEST` here, at the edge, and a bad one is a
400 with a message naming the parameter. Why at the edge and not only in the query
layer: year 0001 becomes ``-infinity`` in asyncpg (a ``generate_series`` from there
runs until the statement timeout and fills the disk with temporary files) and year 9999
overflows Python's ``datetime`` as soon as a day is added, before the query layer sees
it. The declarations also carry the limits into the OpenAPI document (formats, minimum
and maximum, the 400/401 responses), so a client or a fuzzer knows them.

Free-text filters reject control characters (``%00`` in a filter was a 503 carrying the
database's own message): PostgreSQL text cannot hold NUL, and no service, endpoint,
provider or error type contains a control character.
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at runtime.
import datetime as _dt
from typing import Annotated, Any, Final, Literal

from fastapi import Query
from pydantic import BaseModel

from .._errors import QueryError
from ..read import queries as q
from ..read import window as _window

__all__ = [
    "DATE_PATTERN",
    "ERROR_RESPONSES",
    "CsvFormat",
    "DateTime",
    "End",
    "Limit",
    "Since",
    "Start",
    "Text",
    "bounded",
    "resolve",
    "text",
]

_BOUNDS: Final = (
    f"Between {_window.EARLIEST.date().isoformat()} and "
    f"{_window.LATEST.date().isoformat()} (UTC); anything else is a 400."
)
#: What a date parameter may look like: an ISO 8601 date, or date-time with an optional
#: fraction and offset (naive means UTC). Declared as a pattern rather than
#: ``format: date-time`` because RFC 3339 date-times need an offset and no bare date, and
#: because a number (``end=0.5``) must not pass as a Unix time: the schema says exactly
#: what is accepted, and anything else is rejected (422 for the shape, 400 for a value
#: that matches the shape but is no date, or lies outside the supported years).
DATE_PATTERN: Final = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]{1,6})?)?(Z|z|[+-][0-9]{2}:?[0-9]{2})?)?$"
)
_DATE_QUERY: Final[dict[str, Any]] = {
    "pattern": DATE_PATTERN,
    "max_length": 40,
    "examples": ["2026-11-01", "2026-11-01T00:00:00Z"],
}

DateTime = str | None
Start = Annotated[
    DateTime,
    Query(
        description="Range start (inclusive), ISO 8601 date or date-time; naive means UTC. "
        f"Default: the start of the last {_window.DEFAULT_WINDOW_DAYS} days "
        f"(whole UTC days, today included) when `end` is absent too, else 30 days before "
        f"`end`. {_BOUNDS} Each route also caps the range length (see its description).",
        **_DATE_QUERY,
    ),
]
End = Annotated[
    DateTime,
    Query(
        description="Range end (exclusive), ISO 8601 date or date-time; naive means UTC. "
        f"Default: tomorrow 00:00 UTC (so today is included). {_BOUNDS}",
        **_DATE_QUERY,
    ),
]
Since = Annotated[
    DateTime,
    Query(
        description=f"ISO 8601 date or date-time. Default: 90 days ago. {_BOUNDS}", **_DATE_QUERY
    ),
]
Limit = Annotated[int, Query(ge=1, le=q.MAX_LIMIT, description="Maximum rows returned.")]
#: A filter value: 1-200 characters, no control characters (checked by :func:`text`).
Text = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=200,
        description="Exact match; 1-200 characters, no control characters (else a 400).",
    ),
]


#: ``format=csv``: the same rows as a streamed CSV file (``_csv.py``).
CsvFormat = Annotated[
    Literal["json", "csv"],
    Query(
        alias="format",
        description="`json` (default) or `csv`: the same rows as CSV, streamed, with a "
        "header line (date-times ISO 8601 UTC, empty cells for null).",
    ),
]


class ErrorBody(BaseModel):
    """The body of every error answer (``_http_errors``): a stable ``error`` code for
    programs and a ``message`` for people."""

    error: str
    message: str


#: Declared on every /v1 route, so the OpenAPI document lists what a client can receive.
ERROR_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    400: {"model": ErrorBody, "description": "A parameter is outside its documented limits."},
    401: {"model": ErrorBody, "description": "Missing or invalid bearer token."},
    422: {"model": ErrorBody, "description": "A parameter has the wrong type or shape."},
    500: {"model": ErrorBody, "description": "A bug; the server log has the details."},
    503: {
        "model": ErrorBody,
        "description": "The database is unavailable, not migrated, or the query timed out.",
    },
}


def bounded(value: str | None, name: str) -> _dt.datetime | None:
    """``value`` parsed and in UTC, or a :class:`QueryError` (400) if it is no date or
    lies outside the supported years (the pattern already refused other shapes)."""
    if value is None:
        return None
    try:
        parsed = _dt.datetime.fromisoformat(value.replace(",", ".").replace("z", "Z"))
    except ValueError:
        raise QueryError(f"{name} is not a valid ISO 8601 date or date-time: {value!r}") from None
    return _window.check_bounds(parsed, name)


def text(value: str | None, name: str) -> str | None:
    """``value`` unchanged, or a :class:`QueryError` (400) if it holds a control character."""
    if value is not None and any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise QueryError(f"{name} must not contain control characters")
    return value


def resolve(start: str | None, end: str | None) -> tuple[_dt.datetime, _dt.datetime]:
    """The request's ``[start, end)`` in UTC; missing bounds from :func:`last_days`.

    Both bounds are checked against the supported years first, so the arithmetic below
    cannot overflow and the database never sees an infinite timestamp.
    """
    lo, hi = bounded(start, "start"), bounded(end, "end")
    default = _window.last_days(_window.DEFAULT_WINDOW_DAYS)
    if hi is None:
        hi = default.end
    if lo is None:
        lo = max(hi - (default.end - default.start), _window.EARLIEST)
    return lo, hi
