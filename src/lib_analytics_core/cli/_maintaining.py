"""The maintainer hosted by the console scripts' servers (``analytics-api``,
``analytics-collect``): started with the server, given back when it stops.

An ASGI wrapper around any app, not a change to each app: it watches the lifespan
messages uvicorn sends (startup, shutdown), so the collector and the API keep their own
lifespans untouched, and an application that mounts ``create_app`` or
``create_collector`` itself decides on its own whether to host one
(``schema.maintainer.hosted_maintainer``). ``--no-maintain`` on each command line and
``ANALYTICS_MAINTAINER=off`` keep it from starting.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ..schema.maintainer import hosted_maintainer

__all__ = ["MaintainedApp", "add_no_maintain"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


def add_no_maintain(p: argparse.ArgumentParser) -> None:
    """The one ``--no-maintain`` flag every long-running command offers."""
    p.add_argument(
        "--no-maintain",
        action="store_true",
        help="do not compete to keep the aggregates current (one process per database "
        "does it; also ANALYTICS_MAINTAINER=off); see docs/operations.md",
    )


class MaintainedApp:
    """``app`` with a maintainer on ``database_url`` for as long as it is served."""

    def __init__(self, app: App, database_url: str | None, *, host: str) -> None:
        self.app = app
        self._url = database_url
        self._host = host
        self._stack: contextlib.AsyncExitStack | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def watched() -> MutableMapping[str, Any]:
            message = await receive()
            if message["type"] == "lifespan.startup" and self._stack is None:
                self._stack = contextlib.AsyncExitStack()
                await self._stack.enter_async_context(hosted_maintainer(self._url, host=self._host))
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
            return message

        try:
            await self.app(scope, watched, send)
        finally:
            await self.stop()

    async def stop(self) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()
