"""ASGI middleware on real Starlette/FastAPI apps (test clients and one uvicorn server),
writing through a real client + worker into the per-test database."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from fastapi import APIRouter, FastAPI, HTTPException
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from lib_analytics_core import AnalyticsClient, ThreadedWorker
from lib_analytics_core.integrations.asgi import AnalyticsMiddleware
from tests._integrations import SERVICE, by_endpoint, rows, tracking

USER = uuid.UUID("0190a0b0-0000-7000-8000-000000000001")


def state_user(scope: Any) -> object:
    """The app's 'authentication' puts the user in request.state (scope["state"])."""
    return scope.get("state", {}).get("user_id")


def starlette_app(client: AnalyticsClient, **options: Any) -> Starlette:
    async def task(request: Request) -> JSONResponse:
        request.state.user_id = str(USER)
        return JSONResponse({"id": str(request.path_params["task_id"])})

    async def boom(request: Request) -> PlainTextResponse:
        raise RuntimeError("handler failed")

    async def health(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    async def item(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.path_params["item_id"])

    app = Starlette(
        routes=[
            Route("/v1/tasks/{task_id:uuid}", task),
            Route("/boom", boom),
            Route("/healthz", health),
            Route("/create", item, methods=["POST"]),
            Mount("/api", routes=[Route("/items/{item_id}", item)]),
        ]
    )
    app.add_middleware(AnalyticsMiddleware, client=client, user_id=state_user, **options)
    return app


async def test_starlette_routes_statuses_ignored_paths_and_users(
    database_url: str, db: asyncpg.Connection
) -> None:
    ids = [uuid.uuid4() for _ in range(3)]

    def drive() -> None:
        with tracking(database_url) as (client, _), TestClient(starlette_app(client)) as http:
            for task_id in ids:
                assert http.get(f"/v1/tasks/{task_id}").status_code == 200
            assert http.get("/api/items/abc").status_code == 200
            assert http.get("/api/items/def").status_code == 200
            assert http.get("/nope/123").status_code == 404
            assert http.get("/api/nope").status_code == 404
            assert http.get("/healthz").status_code == 200
            assert http.get("/create").status_code == 405
            with pytest.raises(RuntimeError, match="handler failed"):
                http.get("/boom")

    await asyncio.to_thread(drive)
    stored = await rows(db, "api_request")
    grouped = by_endpoint(stored)
    assert set(grouped) == {
        "/v1/tasks/{task_id}",
        "/api/items/{item_id}",
        "<unmatched>",
        "/boom",
        "/create",
    }
    tasks = grouped["/v1/tasks/{task_id}"]
    assert len(tasks) == 3
    assert {r["data"]["status_code"] for r in tasks} == {200}
    assert {r["user_id"] for r in tasks} == {USER}
    assert all(r["service"] == SERVICE and r["data"]["method"] == "GET" for r in stored)
    assert [r["data"]["status_code"] for r in grouped["/api/items/{item_id}"]] == [200, 200]
    assert [r["data"]["status_code"] for r in grouped["<unmatched>"]] == [404, 404]
    assert [r["data"]["status_code"] for r in grouped["/create"]] == [405]
    assert [r["data"]["status_code"] for r in grouped["/boom"]] == [500]
    assert grouped["/boom"][0]["user_id"] is None
    # /healthz is ignored by default: nothing stored for it, under any name.
    assert len(stored) == 3 + 2 + 2 + 1 + 1
    # Fractions kept (issue 28 item 5): a sub-millisecond request is not "0 ms".
    assert all(isinstance(r["data"]["duration_ms"], float) for r in stored)
    assert all(r["data"]["duration_ms"] > 0 for r in stored)


async def test_exception_is_500_and_reaches_the_server_error_handler(
    database_url: str, db: asyncpg.Connection
) -> None:
    def drive() -> int:
        with tracking(database_url) as (client, _):
            app = starlette_app(client, ignore_paths=("/api/*",))
            with TestClient(app, raise_server_exceptions=False) as http:
                status = http.get("/boom").status_code
                assert http.get("/api/items/x").status_code == 200
                assert http.get("/healthz").status_code == 200
                return status

    assert await asyncio.to_thread(drive) == 500
    stored = await rows(db, "api_request")
    # Custom ignore list replaces the default: /healthz tracked now, /api/* not.
    assert sorted((r["data"]["endpoint"], r["data"]["status_code"]) for r in stored) == [
        ("/boom", 500),
        ("/healthz", 200),
    ]


async def test_a_failing_user_resolver_never_breaks_the_request(
    database_url: str, db: asyncpg.Connection
) -> None:
    def broken(scope: Any) -> object:
        raise KeyError("no session")

    def drive() -> None:
        with tracking(database_url) as (client, _):
            app = starlette_app(client)
            app.user_middleware.clear()
            app.add_middleware(AnalyticsMiddleware, client=client, user_id=broken)
            with TestClient(app) as http:
                assert http.get(f"/v1/tasks/{uuid.uuid4()}").status_code == 200

    await asyncio.to_thread(drive)
    stored = await rows(db, "api_request")
    assert [(r["data"]["endpoint"], r["user_id"]) for r in stored] == [
        ("/v1/tasks/{task_id}", None)
    ]


def fastapi_app(client: AnalyticsClient) -> FastAPI:
    app = FastAPI()
    router = APIRouter(prefix="/v1")

    @router.get("/users/{user_id}/projects/{project_id}")
    async def project(user_id: uuid.UUID, project_id: int) -> dict[str, Any]:
        if project_id == 0:
            raise HTTPException(status_code=404, detail="no such project")
        return {"user": str(user_id), "project": project_id}

    @router.post("/tasks")
    async def create(body: dict[str, Any]) -> dict[str, Any]:
        return body

    @app.get("/crash")
    async def crash() -> None:
        raise ValueError("fastapi handler failed")

    app.include_router(router)
    app.add_middleware(
        AnalyticsMiddleware,
        client=client,
        user_id=lambda scope: dict(scope["headers"]).get(b"x-user-id"),
    )
    return app


async def test_fastapi_three_line_integration(database_url: str, db: asyncpg.Connection) -> None:
    def drive() -> None:
        with tracking(database_url) as (client, _), TestClient(fastapi_app(client)) as http:
            headers = {"x-user-id": str(USER)}
            assert http.get(f"/v1/users/{USER}/projects/7", headers=headers).status_code == 200
            assert http.get(f"/v1/users/{USER}/projects/0", headers=headers).status_code == 404
            assert http.post("/v1/tasks", json={"a": 1}).status_code == 200
            assert http.post("/v1/tasks", content=b"not json").status_code == 422
            assert http.get("/v1/users/not-a-uuid-at-all/x/y").status_code == 404
            with pytest.raises(ValueError, match="fastapi handler failed"):
                http.get("/crash", headers={"x-user-id": "not-a-uuid"})

    await asyncio.to_thread(drive)
    stored = await rows(db, "api_request")
    got = [
        (r["data"]["method"], r["data"]["endpoint"], r["data"]["status_code"], r["user_id"])
        for r in stored
    ]
    assert got == [
        ("GET", "/v1/users/{user_id}/projects/{project_id}", 200, USER),
        ("GET", "/v1/users/{user_id}/projects/{project_id}", 404, USER),
        ("POST", "/v1/tasks", 200, None),
        ("POST", "/v1/tasks", 422, None),
        ("GET", "<unmatched>", 404, None),
        ("GET", "/crash", 500, None),
    ]


# ----------------------------------------------------------------------- uvicorn


@pytest.fixture
def loopback_socket() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock
    finally:
        sock.close()


def serve(app: Any, sock: socket.socket) -> tuple[uvicorn.Server, threading.Thread]:
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30  # bounds a hung start-up; asserts no speed
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    return server, thread


async def test_uvicorn_streaming_response_is_recorded_after_its_body(
    database_url: str, db: asyncpg.Connection, loopback_socket: socket.socket
) -> None:
    tracked_during_body: list[int] = []
    holder: dict[str, ThreadedWorker] = {}

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(5):
            # The request's own event must not exist while its body is still streaming.
            tracked_during_body.append(holder["worker"].stats().tracked)
            yield f"chunk {i}\n".encode()
            await asyncio.sleep(0.01)

    async def stream(request: Request) -> StreamingResponse:
        return StreamingResponse(chunks(), media_type="text/plain")

    async def item(request: Request) -> PlainTextResponse:
        return PlainTextResponse("x")

    def drive() -> tuple[int, int]:
        with tracking(database_url) as (client, threaded):
            holder["worker"] = threaded
            app = Starlette(routes=[Route("/stream", stream), Route("/items/{n:int}", item)])
            app.add_middleware(AnalyticsMiddleware, client=client, service="edge")
            server, thread = serve(app, loopback_socket)
            try:
                port = loopback_socket.getsockname()[1]
                with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
                    for n in range(3):
                        assert http.get(f"/items/{n}").status_code == 200
                    # The middleware records a request after its response has gone out,
                    # so the client can read the third answer before it is tracked (it
                    # was, on the embedded server's slower path): wait for the three.
                    deadline = time.monotonic() + 30  # a hang guard, asserts no speed
                    while threaded.stats().tracked < 3:
                        assert time.monotonic() < deadline, threaded.stats()
                        time.sleep(0.005)
                    before = threaded.stats().tracked
                    body = http.get("/stream").text
                    assert body.count("chunk") == 5
                    assert http.get("/missing").status_code == 404
            finally:
                server.should_exit = True
                thread.join(timeout=30)
            return before, threaded.stats().tracked

    before, after = await asyncio.to_thread(drive)
    assert tracked_during_body == [before] * 5
    assert after == before + 2
    stored = await rows(db, "api_request")
    # As a set: /stream is recorded once its body has gone out, and the client's next
    # request (/missing) may be recorded first; the order within a stream is asserted above.
    assert sorted(
        (r["service"], r["data"]["endpoint"], r["data"]["status_code"]) for r in stored
    ) == sorted(
        [
            ("edge", "/items/{n}", 200),
            ("edge", "/items/{n}", 200),
            ("edge", "/items/{n}", 200),
            ("edge", "/stream", 200),
            ("edge", "<unmatched>", 404),
        ]
    )
