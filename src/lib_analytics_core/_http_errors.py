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
routes) both encode the dict this returns.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["ERROR_CODES", "error_body"]

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
