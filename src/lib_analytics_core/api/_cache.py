"""A short-lived cache of ``/v1`` answers, in front of the app (issue 20, item 4).

Why: under the dashboard's own load (50 clients, ``benchmarks/bench_api_load.py``) the
profile is the event loop's CPU, not the database: every request runs routing,
validation, the token check, a query and the JSON encoding, and dashboards ask the same
few questions (a preset, perhaps a service) again and again. The aggregates change only
when they are refreshed (minutes), so an answer a few seconds old is the same answer.

What: a plain ASGI middleware. A ``GET /v1/...`` answer with status 200 is kept for
``ttl_s`` seconds under the request's path, query string and a SHA-256 of its
``Authorization`` header (a cached answer is only ever served to a request that carries
the same credentials, so it can never bypass the token check); concurrent misses of one
key wait for the first (one query, not fifty). ``/v1/health`` is never cached (it is the
freshness probe). ``ttl_s=0`` turns the cache off. Bounded: at most ``max_entries``
answers, the oldest dropped first.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["DEFAULT_CACHE_TTL_S", "ResponseCache"]

#: How long an answer is served from the cache (seconds): well below any refresh period.
DEFAULT_CACHE_TTL_S: Final = 2.0
#: The most answers kept (a dashboard view is about ten).
DEFAULT_MAX_ENTRIES: Final = 512
#: The largest answer kept (bytes). A larger one (a CSV export streamed chunk by chunk,
#: ``_csv.py``) passes through without being copied: keeping it would hold the whole
#: export in memory, which streaming exists to avoid.
MAX_CACHED_BYTES: Final = 1 << 20

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class _Answer:
    expires: float
    start: Message
    body: bytes


class ResponseCache:
    """ASGI middleware: serve repeated ``GET /v1/...`` answers from memory for ``ttl_s``."""

    def __init__(
        self,
        app: ASGIApp,
        ttl_s: float = DEFAULT_CACHE_TTL_S,
        max_entries: int = DEFAULT_MAX_ENTRIES,
    ) -> None:
        self.app = app
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._answers: OrderedDict[tuple[str, bytes, bytes], _Answer] = OrderedDict()
        self._pending: dict[tuple[str, bytes, bytes], asyncio.Future[_Answer | None]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if (
            self.ttl_s <= 0
            or scope["type"] != "http"
            or scope.get("method") != "GET"
            or not path.startswith("/v1/")
            or path == "/v1/health"
        ):
            await self.app(scope, receive, send)
            return
        key = (path, bytes(scope.get("query_string", b"")), _credentials(scope))
        now = time.monotonic()
        answer = self._answers.get(key)
        if answer is not None and answer.expires > now:
            await _replay(answer, send)
            return
        pending = self._pending.get(key)
        if pending is not None:
            answer = await asyncio.shield(pending)
            if answer is not None:
                await _replay(answer, send)
                return
            await self.app(scope, receive, send)
            return
        future: asyncio.Future[_Answer | None] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        answer = None
        try:
            answer = await self._compute(scope, receive, send)
        finally:
            # Waiters get the answer, or None (then each asks the app itself).
            del self._pending[key]
            future.set_result(answer)
        if answer is not None:
            self._answers[key] = answer
            self._answers.move_to_end(key)
            while len(self._answers) > self.max_entries:
                self._answers.popitem(last=False)

    async def _compute(self, scope: Scope, receive: Receive, send: Send) -> _Answer | None:
        """Run the app, passing its answer through and keeping a 200 one."""
        start: Message | None = None
        chunks: list[bytes] = []
        size = 0
        complete = False

        async def capture(message: Message) -> None:
            nonlocal start, complete, size
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                body = message.get("body", b"")
                size += len(body)
                if size <= MAX_CACHED_BYTES:
                    chunks.append(bytes(body))
                else:
                    chunks.clear()  # too large to keep: pass the rest through
                complete = not message.get("more_body", False)
            await send(message)

        await self.app(scope, receive, capture)
        if start is None or start.get("status") != 200 or not complete or size > MAX_CACHED_BYTES:
            return None
        return _Answer(time.monotonic() + self.ttl_s, dict(start), b"".join(chunks))


def _credentials(scope: Scope) -> bytes:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"authorization":
            return hashlib.sha256(value).digest()
    return b""


async def _replay(answer: _Answer, send: Send) -> None:
    await send(dict(answer.start))
    await send({"type": "http.response.body", "body": answer.body, "more_body": False})
