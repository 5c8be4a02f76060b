"""Pure ASGI middleware recording one ``ApiRequest`` per HTTP request.

Works with Starlette, FastAPI and any ASGI application, without importing any of
them: it only reads the ASGI scope. FastAPI in three lines::

    client, cfg = AnalyticsClient.new(service_name="platform")
    app = FastAPI()
    app.add_middleware(AnalyticsMiddleware, client=client)

Why pure ASGI and not ``BaseHTTPMiddleware``: the latter buffers streaming responses
through a task group and changes exception and background-task semantics. Here the
application sees the original ``receive``/``send``; only ``send`` is wrapped to observe
the status and the end of the body.

What is recorded:

* ``endpoint`` is the *route template*, never the raw path: Starlette and FastAPI store
  the matched route in ``scope["route"]`` and we read its ``path_format`` after the
  application ran (mount prefixes included). No match -> ``"<unmatched>"``, so scanners
  hitting random URLs cannot create unbounded endpoint cardinality. Other frameworks can
  put a template in ``scope["lib_analytics_core.endpoint"]`` or pass ``route_template``.
* ``duration_ms`` runs from the request's arrival to the last body chunk being handed
  to the server, so a streaming response is timed to its end (background tasks that
  run after the body are not counted).
* an exception escaping the application is recorded as status 500 and re-raised
  unchanged; a client that disconnected before the response completed is recorded
  with the status sent, or 499 when none was.
* ``user_id`` comes from the ``user_id`` callable, called with the scope after the
  application ran (so authentication inside the app has had its chance to set it).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import TYPE_CHECKING, Any

from ._common import DEFAULT_IGNORE_PATHS, UNMATCHED_ENDPOINT, RequestRecorder

if TYPE_CHECKING:
    from ..ingest.client import AnalyticsClient

__all__ = ["ENDPOINT_SCOPE_KEY", "AnalyticsMiddleware", "route_template"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Scope key an application (or another framework's router) may set to the template.
ENDPOINT_SCOPE_KEY = "lib_analytics_core.endpoint"

#: Status recorded when the client went away before any response was sent (nginx's code).
CLIENT_CLOSED_REQUEST = 499

_perf_ns = time.perf_counter_ns


def route_template(scope: Scope, entry_root_path: str = "") -> str | None:
    """The matched route's template for a Starlette/FastAPI scope, or None.

    Starlette's router sets ``scope["route"]`` to the innermost matched route and, for
    each ``Mount`` on the way, extends ``scope["root_path"]``; the template is the mount
    prefix (the root path added since the middleware saw the request) plus the route's
    ``path_format`` (converters stripped: ``{id:int}`` -> ``{id}``).
    """
    explicit = scope.get(ENDPOINT_SCOPE_KEY)
    if isinstance(explicit, str) and explicit:
        return explicit
    route = scope.get("route")
    if route is None:
        return None
    root_path = scope.get("root_path", "")
    prefix = ""
    if isinstance(root_path, str) and root_path.startswith(entry_root_path):
        prefix = root_path[len(entry_root_path) :]
    routing = sys.modules.get("starlette.routing")
    if routing is not None and isinstance(route, routing.Mount):
        if route.routes:
            # The mount's own router ran and matched nothing: a 404 inside the mount.
            return None
        # A mounted app that is not a router (static files, a sub-application): the
        # rest of the path is a parameter, not part of the template.
        return prefix.rstrip("/") + "/{path}"
    fmt = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not isinstance(fmt, str):
        return None
    return (prefix + fmt) if prefix else fmt


class AnalyticsMiddleware:
    """ASGI middleware tracking an ``ApiRequest`` per HTTP request.

    ``client``: the process's :class:`~lib_analytics_core.AnalyticsClient`.
    ``service``: the ``service`` column (default: the client's ``service_name``).
    ``ignore_paths``: exact paths, or prefixes ending in ``*``, not tracked.
    ``user_id``: ``scope -> UUID | str | None``, called after the application ran.
    ``route_template``: ``scope -> str | None`` for routers that do not set
    ``scope["route"]``; the default understands Starlette and FastAPI.
    ``unmatched_endpoint``: endpoint recorded when no route matched.
    """

    def __init__(
        self,
        app: ASGIApp,
        client: AnalyticsClient,
        *,
        service: str | None = None,
        ignore_paths: Iterable[str] = DEFAULT_IGNORE_PATHS,
        user_id: Callable[[Scope], object] | None = None,
        route_template: Callable[[Scope], str | None] | None = None,
        unmatched_endpoint: str = UNMATCHED_ENDPOINT,
    ) -> None:
        self.app = app
        self._recorder: RequestRecorder[Scope] = RequestRecorder(
            client,
            service=service,
            ignore_paths=ignore_paths,
            user_id=user_id,
            unmatched_endpoint=unmatched_endpoint,
        )
        self._route_template = route_template

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._recorder.ignored(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        start = _perf_ns()
        entry_root = scope.get("root_path", "") or ""
        status = 0
        end = 0

        async def send_observed(message: Message) -> None:
            nonlocal status, end
            await send(message)
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
            elif kind == "http.response.body" and not message.get("more_body", False):
                end = _perf_ns()

        try:
            await self.app(scope, receive, send_observed)
        except BaseException:
            self._record(scope, entry_root, 500, start, end or _perf_ns())
            raise
        if not status:
            status = CLIENT_CLOSED_REQUEST
        self._record(scope, entry_root, status, start, end or _perf_ns())

    def _record(self, scope: Scope, entry_root: str, status: int, start: int, end: int) -> None:
        custom = self._route_template

        def template() -> str | None:
            return custom(scope) if custom is not None else route_template(scope, entry_root)

        self._recorder.record(
            scope,
            method=str(scope.get("method", "GET")),
            template=template,
            status=status,
            start_ns=start,
            end_ns=end,
        )
