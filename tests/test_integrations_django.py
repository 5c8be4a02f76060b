"""Django middleware on a real Django project (test Client and AsyncClient)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import django
import pytest
from django.conf import settings

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="lib-analytics-core-tests-" + "x" * 40,
        ALLOWED_HOSTS=["testserver"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=[],
        DATABASES={},
        USE_TZ=True,
        MIDDLEWARE=["lib_analytics_core.integrations.django.AnalyticsMiddleware"],
    )
    django.setup()

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.test import AsyncClient, Client
from django.urls import include, path

from lib_analytics_core.integrations import django as analytics_django
from tests._integrations import rows, tracking

USER = uuid.UUID("0190a0b0-0000-7000-8000-0000000000d1")


def task(request: HttpRequest, task_id: uuid.UUID) -> JsonResponse:
    return JsonResponse({"id": str(task_id)})


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("django view failed")


def health(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


def stream(request: HttpRequest) -> StreamingHttpResponse:
    def body() -> Iterator[bytes]:
        yield b"a"
        yield b"b"

    return StreamingHttpResponse(body())


async def async_stream(request: HttpRequest) -> StreamingHttpResponse:
    async def body() -> AsyncIterator[bytes]:
        yield b"x"
        yield b"y"

    return StreamingHttpResponse(body())


async def async_item(request: HttpRequest, n: int) -> HttpResponse:
    return HttpResponse(str(n))


project_patterns = [path("<int:n>/", async_item)]

urlpatterns = [
    path("v1/tasks/<uuid:task_id>/", task),
    path("boom/", boom),
    path("healthz", health),
    path("stream/", stream),
    path("astream/", async_stream),
    path("projects/", include(project_patterns)),
]


def header_user(request: HttpRequest) -> object:
    return request.META.get("HTTP_X_USER_ID")


async def test_django_sync_requests(database_url: str, db: asyncpg.Connection) -> None:
    def drive() -> None:
        with tracking(database_url, service_name="djangoapp") as (client, _):
            analytics_django.configure(client, user_id=header_user)
            http = Client(headers={"x-user-id": str(USER)})
            assert http.get(f"/v1/tasks/{uuid.uuid4()}/").status_code == 200
            assert http.get("/projects/5/").status_code == 200
            assert http.get("/nope/").status_code == 404
            assert http.get("/healthz").status_code == 200
            response = http.get("/stream/")
            assert b"".join(response.streaming_content) == b"ab"
            response.close()
            with pytest.raises(RuntimeError, match="django view failed"):
                http.get("/boom/")

    await asyncio.to_thread(drive)
    stored = await rows(db, "api_request")
    got = [
        (r["service"], r["data"]["endpoint"], r["data"]["status_code"], r["user_id"])
        for r in stored
    ]
    assert got == [
        ("djangoapp", "/v1/tasks/<uuid:task_id>/", 200, USER),
        ("djangoapp", "/projects/<int:n>/", 200, USER),
        ("djangoapp", "<unmatched>", 404, USER),
        ("djangoapp", "/stream/", 200, USER),
        ("djangoapp", "/boom/", 500, USER),
    ]


async def test_django_async_requests(database_url: str, db: asyncpg.Connection) -> None:
    with tracking(database_url) as (client, _):
        analytics_django.configure(client, ignore_paths=("/projects/*",))
        http = AsyncClient()
        assert (await http.get("/projects/9/")).status_code == 200
        response = await http.get("/astream/")
        assert b"".join([chunk async for chunk in response.streaming_content]) == b"xy"
        assert (await http.get("/healthz")).status_code == 200
        with pytest.raises(RuntimeError, match="django view failed"):
            await http.get("/boom/")

    stored = await rows(db, "api_request")
    assert [(r["data"]["endpoint"], r["data"]["status_code"]) for r in stored] == [
        ("/astream/", 200),
        ("/healthz", 200),
        ("/boom/", 500),
    ]


def test_unconfigured_middleware_removes_itself_instead_of_failing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(analytics_django, "_recorder", None)
    response: Any = Client().get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok"
