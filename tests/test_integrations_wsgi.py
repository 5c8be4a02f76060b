"""WSGI middleware on a real Flask app (Werkzeug test client) writing to the database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import asyncpg
import flask
import pytest
from werkzeug.test import Client

from lib_analytics_core import AnalyticsClient
from lib_analytics_core.integrations.wsgi import (
    USER_ID_ENVIRON_KEY,
    AnalyticsWSGIMiddleware,
    init_flask,
)
from tests._integrations import rows, tracking

USER = uuid.UUID("0190a0b0-0000-7000-8000-0000000000f1")


def flask_app(name: str) -> flask.Flask:
    app = flask.Flask(name)

    @app.get("/v1/tasks/<uuid:task_id>")
    def task(task_id: uuid.UUID) -> dict[str, str]:
        flask.g.user_id = USER
        flask.request.environ[USER_ID_ENVIRON_KEY] = str(USER)
        return {"id": str(task_id)}

    @app.get("/boom/<int:n>")
    def boom(n: int) -> str:
        raise RuntimeError(f"flask handler failed {n}")

    @app.get("/healthz")
    def health() -> str:
        return "ok"

    @app.get("/stream")
    def stream() -> flask.Response:
        def body() -> Iterator[str]:
            yield "a"
            yield "b"

        return flask.Response(body(), mimetype="text/plain")

    return app


async def test_flask_wsgi_middleware(database_url: str, db: asyncpg.Connection) -> None:
    def drive() -> None:
        with tracking(database_url) as (client, _):
            app = flask_app("plain")
            app.wsgi_app = AnalyticsWSGIMiddleware(app.wsgi_app, client)  # type: ignore[method-assign]
            http = app.test_client()
            # WSGI: the request is finished when the server closes the body; the test
            # client does that for buffered responses (real servers always do).
            assert http.get(f"/v1/tasks/{uuid.uuid4()}", buffered=True).status_code == 200
            assert http.get("/stream", buffered=True).data == b"ab"
            assert http.get("/nope/1", buffered=True).status_code == 404
            assert http.get("/healthz", buffered=True).status_code == 200
            # Not in testing mode: Flask turns the exception into its own 500 page.
            assert http.get("/boom/1", buffered=True).status_code == 500

    await asyncio.to_thread(drive)
    stored = await rows(db, "api_request")
    assert [(r["data"]["endpoint"], r["data"]["status_code"], r["user_id"]) for r in stored] == [
        ("/v1/tasks/<uuid:task_id>", 200, USER),
        ("/stream", 200, None),
        ("<unmatched>", 404, None),
        ("/boom/<int:n>", 500, None),
    ]


async def test_init_flask_propagated_exception_and_user_from_g(
    database_url: str, db: asyncpg.Connection
) -> None:
    def drive() -> None:
        with tracking(database_url, service_name="flaskapp") as (client, _):
            app = flask_app("propagating")
            app.testing = True  # exceptions propagate out of wsgi_app
            init_flask(
                app,
                client,
                user_id=lambda: getattr(flask.g, "user_id", None),
                ignore_paths=("/stream",),
            )
            http = app.test_client()
            assert http.get(f"/v1/tasks/{uuid.uuid4()}", buffered=True).status_code == 200
            with pytest.raises(RuntimeError, match="flask handler failed 7"):
                http.get("/boom/7", buffered=True)
            assert http.get("/stream", buffered=True).status_code == 200
            assert http.get("/healthz", buffered=True).status_code == 200

    await asyncio.to_thread(drive)
    stored = await rows(db, "api_request")
    got = [
        (r["service"], r["data"]["endpoint"], r["data"]["status_code"], r["user_id"])
        for r in stored
    ]
    assert got == [
        ("flaskapp", "/v1/tasks/<uuid:task_id>", 200, USER),
        ("flaskapp", "/boom/<int:n>", 500, None),
        ("flaskapp", "/healthz", 200, None),
    ]


async def test_plain_wsgi_app_exception_while_streaming_body(
    database_url: str, db: asyncpg.Connection
) -> None:
    def app(environ: dict[str, object], start_response: object) -> Iterator[bytes]:
        environ["lib_analytics_core.endpoint"] = "/export/{id}"
        start_response("200 OK", [("Content-Type", "text/plain")])  # type: ignore[operator]
        yield b"partial"
        raise OSError("disk gone")

    def drive(client: AnalyticsClient) -> None:
        wrapped = AnalyticsWSGIMiddleware(app, client)
        with pytest.raises(OSError, match="disk gone"):
            Client(wrapped).get("/export/9", buffered=True)

    def run() -> None:
        with tracking(database_url) as (client, _):
            drive(client)

    await asyncio.to_thread(run)
    stored = await rows(db, "api_request")
    assert [(r["data"]["endpoint"], r["data"]["status_code"]) for r in stored] == [
        ("/export/{id}", 500)
    ]
