"""A production-like event mix, reproducible from a seed.

Mostly ``api_request`` (as a service with the ASGI middleware produces), then database
queries, auth, task lifecycle, integrations/webhooks, errors and a few project/cocoon
events; a few thousand users (some anonymous requests), a handful of services, route
templates as endpoints, log-normal latencies, occasional 4xx/5xx. Stored ``data`` is a
few hundred bytes per event (the event's fields plus ``_meta``).
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Callable

from lib_analytics_core import (
    ApiRequest,
    ApplicationError,
    AuthLoginAttempt,
    AuthSessionValidated,
    AuthTokenRefresh,
    DatabaseQuery,
    Event,
    IntegrationUsed,
    ProjectUpdated,
    TaskCompleted,
    TaskCreated,
    TaskFailed,
    TaskStarted,
    WebhookProcessed,
    WebhookReceived,
)

SERVICES = ["platform-api", "auth", "signaling", "webhooks", "scheduler"]
ENDPOINTS = [
    ("GET", "/v1/projects"),
    ("GET", "/v1/projects/{project_id}"),
    ("GET", "/v1/projects/{project_id}/tasks"),
    ("POST", "/v1/projects/{project_id}/tasks"),
    ("GET", "/v1/tasks/{task_id}"),
    ("GET", "/v1/tasks/{task_id}/logs"),
    ("POST", "/v1/tasks/{task_id}/cancel"),
    ("GET", "/v1/cocoons"),
    ("POST", "/v1/cocoons/{cocoon_id}/claim"),
    ("GET", "/v1/integrations"),
    ("POST", "/v1/integrations/{provider}/connect"),
    ("POST", "/v1/auth/login"),
    ("POST", "/v1/auth/verify"),
    ("POST", "/v1/auth/refresh"),
    ("GET", "/v1/me"),
    ("PATCH", "/v1/projects/{project_id}"),
    ("DELETE", "/v1/projects/{project_id}"),
    ("GET", "/healthz"),
]
PROVIDERS = ["github", "gitlab", "slack", "linear", "google"]
TABLES = ["tasks", "projects", "users", "cocoons", "sessions", "integrations"]
COMMANDS = [
    "cargo test --workspace",
    "npm run build && npm test",
    "pytest -x -q tests/",
    "make release TARGET=x86_64-unknown-linux-gnu",
    "docker build -t app:latest .",
]
ERRORS = [
    ("TimeoutError", "upstream request to provider timed out after 30000 ms"),
    ("DatabaseError", "could not serialize access due to concurrent update"),
    ("ValidationError", "field 'project_id' is not a valid UUID: 'undefined'"),
    ("ConnectionResetError", "connection reset by peer while streaming task logs"),
]


class Workload:
    def __init__(self, seed: int = 42, users: int = 5_000) -> None:
        self.rng = random.Random(seed)
        r = self.rng
        self.users = [uuid.UUID(int=r.getrandbits(128), version=4) for _ in range(users)]
        self.tasks = [uuid.UUID(int=r.getrandbits(128), version=4) for _ in range(20_000)]
        self._kinds: list[tuple[float, Callable[[], Event]]] = [
            (0.70, self.api_request),
            (0.08, self.db_query),
            (0.02, self.login),
            (0.02, self.refresh),
            (0.02, self.session),
            (0.015, self.task_created),
            (0.015, self.task_started),
            (0.012, self.task_completed),
            (0.003, self.task_failed),
            (0.03, self.integration_used),
            (0.01, self.webhook_received),
            (0.01, self.webhook_processed),
            (0.01, self.app_error),
            (0.005, self.project_updated),
        ]
        total = sum(w for w, _ in self._kinds)
        acc = 0.0
        self._cum: list[tuple[float, Callable[[], Event]]] = []
        for w, f in self._kinds:
            acc += w / total
            self._cum.append((acc, f))

    def _user(self) -> uuid.UUID:
        # Zipf-ish: a few heavy users, a long tail.
        r = self.rng
        return self.users[int(len(self.users) * (r.random() ** 2.5))]

    def _latency(self, median: float) -> int:
        return max(1, int(math.exp(self.rng.gauss(math.log(median), 0.8))))

    def api_request(self) -> Event:
        r = self.rng
        method, endpoint = ENDPOINTS[int(len(ENDPOINTS) * r.random() ** 1.3)]
        x = r.random()
        status = 200 if x < 0.95 else (404 if x < 0.975 else (400 if x < 0.99 else 503))
        return ApiRequest(
            service=SERVICES[int(len(SERVICES) * r.random() ** 2)],
            method=method,
            endpoint=endpoint,
            status_code=status,
            duration_ms=self._latency(35),
            user_id=self._user() if r.random() < 0.9 else None,
        )

    def db_query(self) -> Event:
        r = self.rng
        return DatabaseQuery(
            service=SERVICES[int(len(SERVICES) * r.random() ** 2)],
            query_type=r.choice(["select", "select", "select", "insert", "update", "delete"]),
            duration_ms=self._latency(4),
            table=r.choice(TABLES),
            rows=r.randint(0, 200),
            success=r.random() > 0.002,
            user_id=self._user(),
        )

    def login(self) -> Event:
        r = self.rng
        ok = r.random() > 0.1
        u = self._user()
        return AuthLoginAttempt(
            success=ok,
            method=r.choice(["email_code", "github", "google"]),
            user_id=u if ok else None,
            email=f"user{u.int % 100000}@example.com",
            failure_reason=None if ok else "invalid_code",
        )

    def refresh(self) -> Event:
        return AuthTokenRefresh(success=self.rng.random() > 0.02, user_id=self._user())

    def session(self) -> Event:
        return AuthSessionValidated(valid=self.rng.random() > 0.03, user_id=self._user())

    def task_created(self) -> Event:
        r = self.rng
        return TaskCreated(
            task_id=r.choice(self.tasks),
            user_id=self._user(),
            command=r.choice(COMMANDS),
            project_id=r.choice(self.tasks),
        )

    def task_started(self) -> Event:
        r = self.rng
        return TaskStarted(
            task_id=r.choice(self.tasks), user_id=self._user(), queue_wait_ms=self._latency(800)
        )

    def task_completed(self) -> Event:
        r = self.rng
        return TaskCompleted(
            task_id=r.choice(self.tasks), user_id=self._user(), duration_ms=self._latency(45_000)
        )

    def task_failed(self) -> Event:
        r = self.rng
        return TaskFailed(
            task_id=r.choice(self.tasks),
            user_id=self._user(),
            error="process exited with status 101: test result: FAILED. 3 passed; 1 failed",
            duration_ms=self._latency(30_000),
            exit_code=101,
        )

    def integration_used(self) -> Event:
        r = self.rng
        return IntegrationUsed(
            provider=r.choice(PROVIDERS),
            action=r.choice(["list_repos", "create_issue", "post_message", "fetch_file"]),
            duration_ms=self._latency(250),
            user_id=self._user(),
            success=r.random() > 0.03,
        )

    def webhook_received(self) -> Event:
        r = self.rng
        return WebhookReceived(
            provider=r.choice(PROVIDERS),
            webhook_type=r.choice(["push", "pull_request", "issue_comment", "message"]),
            payload_bytes=r.randint(500, 50_000),
        )

    def webhook_processed(self) -> Event:
        r = self.rng
        return WebhookProcessed(
            provider=r.choice(PROVIDERS),
            webhook_type=r.choice(["push", "pull_request", "issue_comment", "message"]),
            success=r.random() > 0.02,
            duration_ms=self._latency(120),
        )

    def app_error(self) -> Event:
        r = self.rng
        etype, msg = r.choice(ERRORS)
        return ApplicationError(
            service=r.choice(SERVICES),
            error_type=etype,
            message=msg,
            endpoint=r.choice(ENDPOINTS)[1],
            user_id=self._user(),
        )

    def project_updated(self) -> Event:
        r = self.rng
        return ProjectUpdated(
            project_id=r.choice(self.tasks),
            user_id=self._user(),
            changed_fields=r.sample(["name", "description", "visibility", "default_branch"], 2),
        )

    def one(self) -> Event:
        x = self.rng.random()
        for c, f in self._cum:
            if x < c:
                return f()
        return self._cum[-1][1]()

    def events(self, n: int) -> list[Event]:
        one = self.one
        return [one() for _ in range(n)]
