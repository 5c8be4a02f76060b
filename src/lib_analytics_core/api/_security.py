"""Response headers and log hygiene of the API.

* ``/v1/*`` and ``/healthz`` answers are private and change with every refresh:
  ``Cache-Control: no-store`` keeps them out of shared caches and the browser's disk
  cache; ``X-Content-Type-Options: nosniff`` on every response stops a browser from
  reading JSON (or an error body) as HTML or script.
* The documented way to open the dashboard is ``/?token=...`` (the page moves the token
  to sessionStorage and removes it from the address bar), but the server's access log
  sees the URL first. :class:`RedactTokenFilter` rewrites the record before any handler
  formats it, so the token never reaches a log file. It redacts the value of *every*
  query parameter except an allow-list of the API's and the page's own, known
  non-secret ones (:data:`LOGGED_PARAMETERS`): a client that misplaces a secret as
  ``?api_key=``, ``?Authorization=``, ``?password=`` or under any name nobody thought of
  gets it redacted too. A deny-list of secret-sounding names would always miss one.

The headers are added by a plain ASGI middleware rather than Starlette's
``BaseHTTPMiddleware``: it wraps ``send`` only, adding no task or copy per request.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final
from urllib.parse import unquote_plus

__all__ = [
    "LOGGED_PARAMETERS",
    "REDACTED",
    "RedactTokenFilter",
    "SecurityHeaders",
    "install_access_log_redaction",
    "redact",
]

#: What a token in a logged URL is replaced with.
REDACTED: Final = "[redacted]"
#: The logger uvicorn writes one line per request to.
ACCESS_LOGGER: Final = "uvicorn.access"

#: Query parameters whose values are logged as sent: the API's and the dashboard's own,
#: none of which can hold a secret. Every other parameter's value is redacted, explore's
#: ``filter`` among them: its values are whatever a user typed (an email address, ...).
LOGGED_PARAMETERS: Final = frozenset(
    {
        "before",
        "by",
        "by_day",
        "compare",
        "days",
        "end",
        "endpoint",
        "error_type",
        "event_type",
        "format",
        "granularity",
        "group_by",
        "limit",
        "max_staleness_minutes",
        "measure",
        "method",
        "provider",
        "service",
        "since",
        "start",
        "top",
    }
)

#: A query string in a logged request line: from "?" to the next space or quote.
_QUERY = re.compile(r"\?([^\s\"]*)")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def redact(text: str) -> str:
    """``text`` with the value of every query parameter not in :data:`LOGGED_PARAMETERS`
    replaced by :data:`REDACTED` (names compared case-insensitively after percent-decoding;
    a bare item without ``=`` is redacted whole unless it is such a name)."""
    return _QUERY.sub(_redact_query, text)


def _redact_query(match: re.Match[str]) -> str:
    items = []
    for item in match.group(1).split("&"):
        name, eq, _value = item.partition("=")
        if _logged(name):
            items.append(item)
        elif eq:
            items.append(f"{name}={REDACTED}")
        else:
            items.append(REDACTED if item else item)
    return "?" + "&".join(items)


def _logged(name: str) -> bool:
    return unquote_plus(name).strip().lower() in LOGGED_PARAMETERS


class RedactTokenFilter(logging.Filter):
    """Redacts query values (:func:`redact`) in a record's message and string arguments;
    drops nothing.

    uvicorn's access record carries the path with its query string as an argument
    (``'%s - "%s %s HTTP/%s" %d'``), so the arguments are rewritten, not only the
    format string.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {
                k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()
            }
        return True


def install_access_log_redaction(logger_name: str = ACCESS_LOGGER) -> None:
    """Attach :class:`RedactTokenFilter` to the access logger once (idempotent).

    Called when the app starts (after the server configured its logging): a filter on
    the logger runs before its handlers and before propagation, so every handler,
    including one a deployment adds later, sees the redacted record.
    """
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, RedactTokenFilter) for f in logger.filters):
        logger.addFilter(RedactTokenFilter())


_NO_STORE_PREFIXES: Final = ("/v1/", "/healthz")


class SecurityHeaders:
    """ASGI middleware: ``nosniff`` everywhere, ``no-store`` on data and health answers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        no_store = str(scope.get("path", "")).startswith(_NO_STORE_PREFIXES)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() not in (b"x-content-type-options", b"cache-control")
                    or (k.lower() == b"cache-control" and not no_store)
                ]
                headers.append((b"x-content-type-options", b"nosniff"))
                if no_store:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
