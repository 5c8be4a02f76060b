"""The value limits of event fields: refused where the event is built, by documented rules.

Why here and not in the database: the aggregates cast JSON numbers to SQL types
(``(data->>'status_code')::int``, sums of ``duration_ms`` into ``bigint``). One stored
value outside those types makes *every* later refresh of that aggregate fail, TimescaleDB's
policy job included, so the good events of that day never appear (issue 14). A value
refused with :class:`~lib_analytics_core.EventValidationError` naming the field, where a
service builds the event, costs a comparison; a stored one costs the dashboards.

The rules (the catalogue's fields use the aliases below; the checker in ``events.base``
reads the bounds from the annotations, so ``Event.from_json`` enforces the same ones):

* durations, ``*_ms``: ``0 <= v <= MAX_DURATION_MS`` (2**31 - 1 ms, 24.8 days), an
  integer or a finite fraction (the aggregates sum them as ``numeric``);
* a cocoon's session (``session_duration_ms``), which can outlast that: ``0 <= v <=
  MAX_SESSION_MS`` (366 days; ten million of them still sum inside ``bigint``);
* HTTP status codes: ``100 <= v <= 599``;
* counts and sizes (``attempts``, ``rows``, ``payload_bytes``, ``expires_in_secs``):
  ``0 <= v <= MAX_COUNT`` (2**53 - 1: exact as a JSON number everywhere, the dashboard's
  JavaScript included);
* process exit codes: a 32-bit signed integer;
* every other ``int`` field, custom events' included: a PostgreSQL ``bigint``
  (``-2**63 <= v < 2**63``), so any cast a user's own aggregate makes can hold it;
* every ``float`` field: finite. NaN and +-inf have no JSON form; they would be stored
  as ``null`` and silently change counts and averages.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

__all__ = [
    "BIGINT_MAX",
    "BIGINT_MIN",
    "MAX_COUNT",
    "MAX_DURATION_MS",
    "MAX_SESSION_MS",
    "Count",
    "DurationMs",
    "ExitCode",
    "HttpStatus",
    "SessionMs",
]

#: Longest duration an event may carry: 2**31 - 1 ms (24.8 days), a PostgreSQL integer.
MAX_DURATION_MS = 2**31 - 1
#: Longest cocoon session: 366 days in ms (sessions can outlast MAX_DURATION_MS).
MAX_SESSION_MS = 366 * 86_400_000
#: Largest count or size: 2**53 - 1, the largest integer every JSON reader keeps exactly.
MAX_COUNT = 2**53 - 1
#: The range of a PostgreSQL bigint: the bound of any other integer field.
BIGINT_MIN = -(2**63)
BIGINT_MAX = 2**63 - 1

DurationMs = (
    Annotated[int, msgspec.Meta(ge=0, le=MAX_DURATION_MS)]
    | Annotated[float, msgspec.Meta(ge=0, le=MAX_DURATION_MS)]
)
"""Milliseconds, 0 to 24.8 days: an integer, or a fraction as clients measure it
(JavaScript's ``performance.now()`` gives ``1234.5``; the middleware keeps microseconds).
Stored as sent: an integer stays an integer (old rows and content ids unchanged), and
the aggregates read either as ``numeric`` (``analytics_json_duration``)."""
SessionMs = Annotated[int, msgspec.Meta(ge=0, le=MAX_SESSION_MS)]
"""A session's length in milliseconds, 0 to 366 days."""
HttpStatus = Annotated[int, msgspec.Meta(ge=100, le=599)]
"""An HTTP status code."""
Count = Annotated[int, msgspec.Meta(ge=0, le=MAX_COUNT)]
"""A non-negative count or size."""
ExitCode = Annotated[int, msgspec.Meta(ge=-(2**31), le=2**31 - 1)]
"""A process exit code (32-bit, as the operating systems report them)."""
