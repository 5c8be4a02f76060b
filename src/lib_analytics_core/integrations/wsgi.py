"""WSGI middleware recording one ``ApiRequest`` per request (Flask and any WSGI app).

Flask::

    client = AnalyticsClient(AnalyticsConfig(service_name="platform"))
    worker = AnalyticsWorker.start_in_thread(client.worker_config(), dsn)
    app.wsgi_app = AnalyticsWSGIMiddleware(app.wsgi_app, client)

The endpoint is the matched route template. Flask (and plain Werkzeug apps that
create a ``Request`` with the default ``populate_request``) leave the request object in
``environ["werkzeug.request"]``, whose ``url_rule.rule`` is the template
(``/tasks/<uuid:task_id>``); no Flask hook is needed, and Flask is never imported. Other
frameworks can set ``environ["lib_analytics_core.endpoint"]`` or pass ``route_template``.

Timing follows the WSGI contract: the response is finished when the server calls
``close()`` on the returned iterable, after the last chunk was sent. That is when the
event is recorded, so a streamed body is timed to its end. An exception raised by the
application (or while iterating its body) is recorded as status 500 and re-raised.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from ._common import DEFAULT_IGNORE_PATHS, UNMATCHED_ENDPOINT, RequestRecorder

if TYPE_CHECKING:
    from ..ingest.client import AnalyticsClient

__all__ = [
    "ENDPOINT_ENVIRON_KEY",
    "USER_ID_ENVIRON_KEY",
    "AnalyticsWSGIMiddleware",
    "init_flask",
    "route_template",
]

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

#: Environ key an application may set to the route template.
ENDPOINT_ENVIRON_KEY = "lib_analytics_core.endpoint"
#: Environ key the default user-id resolver reads (set it in a ``before_request``).
USER_ID_ENVIRON_KEY = "lib_analytics_core.user_id"

_perf_ns = time.perf_counter_ns


def route_template(environ: Environ) -> str | None:
    """The route template for a request, from an explicit key or Werkzeug's url_rule."""
    explicit = environ.get(ENDPOINT_ENVIRON_KEY)
    if isinstance(explicit, str) and explicit:
        return explicit
    request = environ.get("werkzeug.request")
    rule = getattr(request, "url_rule", None)
    template = getattr(rule, "rule", None)
    return template if isinstance(template, str) else None


def _default_user_id(environ: Environ) -> object:
    return environ.get(USER_ID_ENVIRON_KEY)


class AnalyticsWSGIMiddleware:
    """WSGI middleware tracking an ``ApiRequest`` per request.

    Arguments mirror :class:`~lib_analytics_core.integrations.asgi.AnalyticsMiddleware`;
    ``user_id`` is called with the WSGI environ once the response is finished. The
    default reads ``environ["lib_analytics_core.user_id"]``, which a Flask
    ``before_request`` can set from ``request.environ``.
    """

    def __init__(
        self,
        app: WSGIApp,
        client: AnalyticsClient,
        *,
        service: str | None = None,
        ignore_paths: Iterable[str] = DEFAULT_IGNORE_PATHS,
        user_id: Callable[[Environ], object] | None = _default_user_id,
        route_template: Callable[[Environ], str | None] = route_template,
        unmatched_endpoint: str = UNMATCHED_ENDPOINT,
    ) -> None:
        self.app = app
        self._recorder: RequestRecorder[Environ] = RequestRecorder(
            client,
            service=service,
            ignore_paths=ignore_paths,
            user_id=user_id,
            unmatched_endpoint=unmatched_endpoint,
        )
        self._route_template = route_template

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if self._recorder.ignored(environ.get("PATH_INFO", "")):
            return self.app(environ, start_response)
        start = _perf_ns()
        state = _RequestState(self, environ, start)

        def start_observed(status: str, headers: Any, exc_info: Any = None) -> Any:
            # Werkzeug apps still hold their request here (Flask drops it from the
            # environ before returning the body), so take the template now.
            state.template = self._template_now(environ)
            try:
                state.status = int(status.split(" ", 1)[0])
            except ValueError:
                state.status = 0
            if exc_info is not None:
                return start_response(status, headers, exc_info)
            return start_response(status, headers)

        try:
            body = self.app(environ, start_observed)
        except BaseException:
            state.finish(500)
            raise
        return _ObservedBody(body, state)

    def _template_now(self, environ: Environ) -> str | None:
        try:
            return self._route_template(environ)
        except Exception:  # tracking must never break the caller
            self._recorder.tracker.failed("route_template() raised")
            return None

    def _record(self, environ: Environ, status: int, start: int, template: str | None) -> None:
        end = _perf_ns()
        custom = self._route_template

        def current_template() -> str | None:
            return custom(environ) or template

        self._recorder.record(
            environ,
            method=str(environ.get("REQUEST_METHOD", "GET")),
            template=current_template,
            status=status,
            start_ns=start,
            end_ns=end,
        )


class _RequestState:
    __slots__ = ("done", "environ", "middleware", "start", "status", "template")

    def __init__(self, middleware: AnalyticsWSGIMiddleware, environ: Environ, start: int) -> None:
        self.middleware = middleware
        self.environ = environ
        self.start = start
        self.status = 0
        self.template: str | None = None
        self.done = False

    def finish(self, status: int | None = None) -> None:
        if self.done:
            return
        self.done = True
        self.middleware._record(
            self.environ,
            status if status is not None else (self.status or 499),
            self.start,
            self.template,
        )


class _ObservedBody:
    """Wraps the application's iterable; records the request when the server closes it."""

    __slots__ = ("_body", "_state")

    def __init__(self, body: Iterable[bytes], state: _RequestState) -> None:
        self._body = body
        self._state = state

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._body
        except GeneratorExit:
            raise
        except BaseException:
            self._state.finish(500)
            raise

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        except BaseException:
            self._state.finish(500)
            raise
        self._state.finish()


def init_flask(
    app: Any,
    client: AnalyticsClient,
    *,
    user_id: Callable[[], object] | None = None,
    **options: Any,
) -> AnalyticsWSGIMiddleware:
    """Install the middleware on a Flask app, with Flask's request context wired in.

    Wraps ``app.wsgi_app`` and connects to Flask's ``request_started`` signal to store
    ``request.url_rule.rule`` in the environ while the request context exists, so the
    template is known even when the view raises (Flask discards its request object
    before an exception leaves ``wsgi_app``). ``user_id`` is a no-argument callable run
    inside the request context (it may read ``flask.g``) when the response is ready or
    the view failed. Other keyword arguments go to :class:`AnalyticsWSGIMiddleware`.
    """
    import flask  # noqa: PLC0415 - optional dependency, imported when used

    def started(sender: Any, **_: Any) -> None:
        rule = flask.request.url_rule
        if rule is not None:
            flask.request.environ[ENDPOINT_ENVIRON_KEY] = rule.rule

    def finished(sender: Any, **_: Any) -> None:
        if user_id is None:
            return
        try:
            flask.request.environ[USER_ID_ENVIRON_KEY] = user_id()
        except Exception:  # tracking must never break the caller
            middleware._recorder.tracker.failed("user_id() raised")

    middleware = AnalyticsWSGIMiddleware(app.wsgi_app, client, **options)
    # weak=False: the closures would otherwise be collected as soon as we return.
    flask.request_started.connect(started, app, weak=False)
    flask.request_finished.connect(finished, app, weak=False)
    flask.got_request_exception.connect(finished, app, weak=False)
    app.wsgi_app = middleware
    return middleware
