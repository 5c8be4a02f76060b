"""The one shape of an HTTP error body, for the read API and the collector alike.

Every error answer of ``analytics-api`` and ``analytics-collect`` is a JSON object::

    {"error": "<code>", "message": "<one sentence for a person>", ...}

``error`` is a stable machine-readable code from :data:`ERROR_CODES` (clients branch on
it, never on the wording); ``message`` says what happened and, where the client or an
operator can do something, what (``"run analytics-migrate"``). Extra keys are allowed
where an answer has more to say (the collector's per-event ``rejected`` list, a
``retry_after`` in seconds). Why one shape: a client that talks to both servers (the
dashboard, an SDK, a probe) needs one error parser, and a code survives rewording.

Nothing here imports a web framework: the API (FastAPI) and the collector (its own ASGI
routes) both encode the dict this returns. :func:`database_error` is the one answer to a
failed database call, derived from the one classification (``_dberrors``): the
database's own text names tables, roles and values, so it goes to the server log, and
the client gets the kind's code and a sentence that says what to do.
"""

from __future__ import annotations

from typing import Any, Final

from ._errors import ErrorKind

__all__ = ["DATABASE_ERRORS", "ERROR_CODES", "database_error", "error_body"]

#: The codes an error body may carry, with the HTTP status each usually goes with (a
#: server may answer a code with another status where its clients need it, e.g. the
#: collector answers ``not_migrated`` with a status its SDKs do not retry: documented there).
ERROR_CODES: Final[dict[str, int]] = {
    "bad_request": 400,  # a parameter or body the server will never accept as sent
    "unauthorized": 401,  # missing or wrong token
    "forbidden": 403,  # the token may not do this (write a service, use a route)
    "not_found": 404,
    "too_large": 413,  # body, message or batch over the documented limit
    "rate_limited": 429,  # retry after the given delay
    "not_migrated": 503,  # the analytics schema is missing or outdated: an operator must migrate
    "unavailable": 503,  # the database (or bus) is down or overloaded now: retry later
    "timeout": 503,  # the query ran over its time limit: ask a smaller question
    "internal": 500,  # a bug: the server log has the details
}


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """``{"error": code, "message": message, **extra}``; ``code`` must be a known one."""
    if code not in ERROR_CODES:
        raise ValueError(f"unknown error code {code!r}; add it to ERROR_CODES")
    return {"error": code, "message": message, **extra}


_FAILED: Final = "the analytics query failed; the server log has the details"

#: Status, code and client-facing message of a failed database call, by its kind.
DATABASE_ERRORS: Final[dict[ErrorKind, tuple[int, str, str]]] = {
    ErrorKind.UNAVAILABLE: (503, "unavailable", "the analytics database is unavailable"),
    ErrorKind.CONFLICT: (
        503,
        "unavailable",
        "the analytics database is busy with a conflicting operation; retry",
    ),
    ErrorKind.TIMEOUT: (
        503,
        "timeout",
        "the query took too long and was cancelled; try a shorter range",
    ),
    ErrorKind.NOT_MIGRATED: (
        503,
        "not_migrated",
        "the analytics schema is missing or outdated in this database: run analytics-migrate",
    ),
    ErrorKind.MISCONFIGURED: (
        503,
        "unavailable",
        "the analytics database is not reachable as configured; the server log says why",
    ),
    ErrorKind.PERMISSION: (
        503,
        "unavailable",
        "the server's database login lacks a privilege; the server log says which",
    ),
    ErrorKind.REFUSED: (400, "bad_request", "a parameter value was rejected by the database"),
    ErrorKind.DUPLICATE: (500, "internal", _FAILED),
    ErrorKind.INTERNAL: (500, "internal", _FAILED),
}


def database_error(kind: ErrorKind, **extra: Any) -> tuple[int, dict[str, Any]]:
    """Status and body of a failed database call of ``kind`` (no database text)."""
    status, code, message = DATABASE_ERRORS[kind]
    return status, error_body(code, message, **extra)
