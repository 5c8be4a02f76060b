"""Django middleware recording one ``ApiRequest`` per request.

Setup, once at start-up (e.g. in ``AppConfig.ready`` or ``wsgi.py``)::

    from lib_analytics_core.integrations import django as analytics_django
    analytics_django.configure(client, user_id=lambda request: request.user.id
                               if request.user.is_authenticated else None)

and add ``"lib_analytics_core.integrations.django.AnalyticsMiddleware"`` near the top
of ``MIDDLEWARE`` (above middleware whose time you want counted). Django instantiates
middleware itself with only ``get_response``, which is why the client is handed over by
:func:`configure` rather than the constructor. Without ``configure`` the middleware
removes itself (``MiddlewareNotUsed``) with a warning instead of failing requests.

The endpoint is ``request.resolver_match.route`` (``tasks/<uuid:task_id>/``, includes
concatenated), shown with a leading ``/``; no match -> ``"<unmatched>"``. Django turns
view exceptions into 500 responses before they reach middleware, so those are recorded
with the response's status; an exception that still escapes is recorded as 500 and
re-raised. Streaming responses are recorded when their content iterator is exhausted
or closed. Both sync and async (ASGI) request paths are supported without thread hops.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from ._common import DEFAULT_IGNORE_PATHS, UNMATCHED_ENDPOINT, RequestRecorder, logger

if TYPE_CHECKING:
    from ..ingest.client import AnalyticsClient

__all__ = ["AnalyticsMiddleware", "configure", "route_template"]

_perf_ns = time.perf_counter_ns


_recorder: RequestRecorder[Any] | None = None


def configure(
    client: AnalyticsClient,
    *,
    service: str | None = None,
    ignore_paths: Iterable[str] = DEFAULT_IGNORE_PATHS,
    user_id: Callable[[Any], object] | None = None,
    unmatched_endpoint: str = UNMATCHED_ENDPOINT,
) -> None:
    """Give the middleware its client and options (call before the first request).

    ``user_id`` is called with the ``HttpRequest`` after the view ran, so
    ``request.user`` set by authentication middleware is available.
    """
    global _recorder  # noqa: PLW0603 - Django builds middleware without arguments
    _recorder = RequestRecorder(
        client,
        service=service,
        ignore_paths=ignore_paths,
        user_id=user_id,
        unmatched_endpoint=unmatched_endpoint,
    )


def route_template(request: Any) -> str | None:
    """The matched URL pattern for a request (``/tasks/<uuid:task_id>/``), or None."""
    match = getattr(request, "resolver_match", None)
    route = getattr(match, "route", None)
    if not isinstance(route, str):
        return None
    return route if route.startswith("/") else "/" + route


class AnalyticsMiddleware:
    """Django middleware tracking an ``ApiRequest`` per request (sync and async)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        from asgiref.sync import (  # noqa: PLC0415 - optional dependency (Django's)
            iscoroutinefunction,
            markcoroutinefunction,
        )
        from django.core.exceptions import (  # noqa: PLC0415 - optional
            MiddlewareNotUsed,
        )

        if _recorder is None:
            logger.warning(
                "lib_analytics_core Django middleware disabled: call "
                "lib_analytics_core.integrations.django.configure(client) at start-up"
            )
            raise MiddlewareNotUsed("analytics not configured")
        self.get_response = get_response
        self._recorder = _recorder
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    def __call__(self, request: Any) -> Any:
        if self._async:
            return self.__acall__(request)
        recorder = self._recorder
        if recorder.ignored(request.path_info):
            return self.get_response(request)
        start = _perf_ns()
        try:
            response = self.get_response(request)
        except BaseException:
            self._record(request, 500, start)
            raise
        return self._observe(request, response, start)

    async def __acall__(self, request: Any) -> Any:
        recorder = self._recorder
        if recorder.ignored(request.path_info):
            return await self.get_response(request)
        start = _perf_ns()
        try:
            response = await self.get_response(request)
        except BaseException:
            self._record(request, 500, start)
            raise
        return self._observe(request, response, start)

    def _observe(self, request: Any, response: Any, start: int) -> Any:
        if not getattr(response, "streaming", False):
            self._record(request, response.status_code, start)
            return response
        try:
            content = response.streaming_content
            status = response.status_code
            if getattr(response, "is_async", False):
                response.streaming_content = self._timed_async(content, request, status, start)
            else:
                response.streaming_content = self._timed_sync(content, request, status, start)
        except Exception:  # tracking must never break the caller
            self._recorder.tracker.failed("could not wrap the streaming response")
        return response

    def _timed_sync(
        self, content: Iterable[bytes], request: Any, status: int, start: int
    ) -> Iterator[bytes]:
        try:
            yield from content
        except GeneratorExit:
            self._record(request, status, start)
            raise
        except BaseException:
            self._record(request, 500, start)
            raise
        self._record(request, status, start)

    async def _timed_async(
        self, content: AsyncIterator[bytes], request: Any, status: int, start: int
    ) -> AsyncIterator[bytes]:
        try:
            async for chunk in content:
                yield chunk
        except GeneratorExit:
            self._record(request, status, start)
            raise
        except BaseException:
            self._record(request, 500, start)
            raise
        self._record(request, status, start)

    def _record(self, request: Any, status: int, start: int) -> None:
        self._recorder.record(
            request,
            method=str(request.method or "GET"),
            template=lambda: route_template(request),
            status=status,
            start_ns=start,
            end_ns=_perf_ns(),
        )
