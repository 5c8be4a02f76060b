"""A believable platform, simulated through the real client and worker (for the demo).

Why simulate through the real pipeline instead of bulk-inserting rows: the demo then
exercises exactly what a service runs (typed events, ``AnalyticsClient``, batching
``AnalyticsWorker``, COPY) and its numbers (events/s) mean something. History is
recorded with ``AnalyticsClient.track_at`` because ``track()`` stamps "now".

The model, kept deliberately simple but shaped like real traffic:

* a user population with four engagement tiers (power, regular, casual, dormant), new
  sign-ups during the span, a weekday/weekend rhythm and a diurnal curve per user time
  zone, so DAU < WAU < MAU and the lines have texture;
* per session: logins (some failing), token refreshes, session checks, API requests
  with a log-normal latency per endpoint plus a rare slow tail, 4xx/5xx by endpoint,
  tasks (created -> started -> completed/failed/cancelled with log-normal durations),
  integration use by provider, project edits, cocoon connect/disconnect;
* background traffic: webhooks from providers and a trickle of application errors;
* two incidents (an upstream provider outage and a database slowdown) so the error and
  latency charts have something to show.

Everything is drawn from one seeded ``random.Random``: the same seed gives the same
events (ids and timestamps included, apart from the worker-assigned event ids).
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import math
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from .._errors import ConfigurationError, WorkerError
from ..events.base import Event
from ..events.catalog import (
    ApiRequest,
    ApplicationError,
    AuthCodeVerified,
    AuthLoginAttempt,
    AuthSessionValidated,
    AuthTokenRefresh,
    CocoonClaimed,
    CocoonConnected,
    CocoonDisconnected,
    CocoonRegistered,
    CocoonSetupTokenCreated,
    CocoonSetupTokenUsed,
    DatabaseQuery,
    IntegrationConnected,
    IntegrationDisconnected,
    IntegrationError,
    IntegrationUsed,
    OAuthFlowCompleted,
    OAuthFlowStarted,
    ProjectCreated,
    ProjectDeleted,
    ProjectUpdated,
    TaskCancelled,
    TaskCompleted,
    TaskCreated,
    TaskFailed,
    TaskStarted,
    WebhookProcessed,
    WebhookReceived,
)
from ..ingest.client import AnalyticsClient
from ..ingest.worker import AnalyticsWorker

__all__ = [
    "DEFAULT_DAYS",
    "DEFAULT_USERS",
    "SERVICES",
    "SimulationConfig",
    "SimulationResult",
    "simulate",
]

#: Days of history the demo simulates by default.
DEFAULT_DAYS = 30
#: Users in the simulated population by default (~300k events over 30 days).
DEFAULT_USERS = 800
#: The services of the simulated platform; each gets its own client and worker.
SERVICES = ("platform", "auth", "integrations", "signaling")

#: Events queued across all clients before the generator waits for the workers: keeps
#: memory flat and stays far below the clients' queue capacity (nothing is dropped).
_MAX_QUEUED = 40_000

_UTC = _dt.UTC


@dataclass(frozen=True, kw_only=True)
class SimulationConfig:
    """What to simulate. ``end`` defaults to now; the span is ``days`` full UTC days
    before ``end``'s day plus ``end``'s day up to ``end``."""

    days: int = DEFAULT_DAYS
    users: int = DEFAULT_USERS
    seed: int = 42
    end: _dt.datetime | None = None
    incidents: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.days <= 400:
            raise ConfigurationError(f"days must be between 1 and 400, got {self.days}")
        if not 1 <= self.users <= 1_000_000:
            raise ConfigurationError(f"users must be between 1 and 1,000,000, got {self.users}")
        if self.end is not None and self.end.tzinfo is None:
            raise ConfigurationError("end must be timezone-aware")


@dataclass(kw_only=True)
class SimulationResult:
    """What was generated and written."""

    start: _dt.datetime
    end: _dt.datetime
    tracked: int = 0
    written: int = 0
    lost: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def events_per_second(self) -> float:
        return self.written / self.seconds if self.seconds > 0 else 0.0


ProgressCallback = Callable[[int, int, int], None]
"""``progress(days_done, days_total, events_tracked)``."""


# ----------------------------------------------------------------------------- model


@dataclass(frozen=True, slots=True)
class _Endpoint:
    service: str
    method: str
    path: str
    median_ms: float
    sigma: float
    weight: float
    rate_4xx: float
    codes_4xx: tuple[int, ...]


_USER_ENDPOINTS: tuple[_Endpoint, ...] = (
    _Endpoint("platform", "GET", "/v1/tasks", 38, 0.50, 18, 0.004, (400,)),
    _Endpoint("platform", "GET", "/v1/tasks/{task_id}", 17, 0.45, 26, 0.030, (404,)),
    _Endpoint("platform", "GET", "/v1/projects", 26, 0.45, 9, 0.003, (400,)),
    _Endpoint("platform", "GET", "/v1/projects/{project_id}", 21, 0.40, 7, 0.020, (404, 403)),
    _Endpoint("platform", "PATCH", "/v1/projects/{project_id}", 48, 0.55, 2, 0.050, (422, 409)),
    _Endpoint("platform", "GET", "/v1/cocoons", 23, 0.40, 5, 0.004, (400,)),
    _Endpoint("auth", "GET", "/v1/auth/session", 4, 0.55, 14, 0.018, (401,)),
    _Endpoint("auth", "POST", "/v1/auth/refresh", 14, 0.45, 3, 0.012, (401,)),
    _Endpoint("integrations", "GET", "/v1/integrations", 31, 0.50, 4, 0.005, (400,)),
    _Endpoint("signaling", "GET", "/v1/signaling/peers", 9, 0.60, 4, 0.010, (404,)),
)
_ENDPOINT_WEIGHTS = tuple(e.weight for e in _USER_ENDPOINTS)
_EP_CREATE_TASK = _Endpoint("platform", "POST", "/v1/tasks", 64, 0.55, 0, 0.045, (422, 429))
_EP_LOGIN = _Endpoint("auth", "POST", "/v1/auth/login", 135, 0.35, 0, 0.0, ())
_EP_VERIFY = _Endpoint("auth", "POST", "/v1/auth/verify", 42, 0.40, 0, 0.0, ())
_EP_ACTION = _Endpoint(
    "integrations", "POST", "/v1/integrations/{provider}/actions", 260, 0.75, 0, 0.02, (422,)
)
_EP_WEBHOOK = _Endpoint(
    "integrations", "POST", "/v1/webhooks/{provider}", 36, 0.60, 0, 0.01, (400,)
)
_EP_REGISTER = _Endpoint("signaling", "POST", "/v1/cocoons/register", 85, 0.40, 0, 0.0, ())

_BASE_5XX = 0.0025

#: provider -> (relative popularity, success probability of an action, median action ms)
_PROVIDERS: dict[str, tuple[float, float, float]] = {
    "github": (10, 0.985, 320),
    "slack": (7, 0.992, 180),
    "linear": (4, 0.990, 240),
    "google_drive": (3, 0.970, 450),
    "jira": (2, 0.940, 620),
}
_PROVIDER_NAMES = tuple(_PROVIDERS)
_PROVIDER_WEIGHTS = tuple(p[0] for p in _PROVIDERS.values())
_ACTIONS = ("create_issue", "sync", "post_message", "fetch_file", "list_repos")
_WEBHOOK_TYPES = {
    "github": ("push", "pull_request", "issue_comment"),
    "slack": ("event_callback", "interactive"),
    "linear": ("issue.update",),
    "google_drive": ("change",),
    "jira": ("issue_updated",),
}

#: service -> [(error type, message, weight)] used for 5xx responses and background errors
_ERRORS: dict[str, tuple[tuple[str, str, int], ...]] = {
    "platform": (
        ("DatabaseTimeout", "canceling statement due to statement timeout", 5),
        ("TaskQueueFull", "task queue at capacity (10000), rejecting enqueue", 2),
        ("SerializationFailure", "could not serialize access due to concurrent update", 2),
    ),
    "auth": (
        ("TokenSigningError", "failed to sign JWT: key rotation in progress", 1),
        ("RedisConnectionError", "Connection reset by peer (redis:6379)", 2),
    ),
    "integrations": (
        ("UpstreamTimeout", "upstream provider did not answer within 10s", 5),
        ("RateLimited", "provider returned 429 Too Many Requests", 3),
        ("OAuthTokenExpired", "refresh of provider token failed: invalid_grant", 1),
    ),
    "signaling": (
        ("WebSocketClosed", "websocket closed unexpectedly (code 1006)", 3),
        ("IceNegotiationFailed", "ICE negotiation timed out after 15s", 1),
    ),
}

_TASK_COMMANDS = (
    "cargo test",
    "npm run build",
    "pytest -q",
    "make deploy",
    "git pull && make",
    "docker compose up -d",
    "terraform plan",
)
_TIERS = (  # (share, daily activity probability, extra sessions mean, requests mean)
    (0.12, 0.88, 1.6, 26.0),
    (0.33, 0.50, 0.7, 15.0),
    (0.35, 0.16, 0.25, 9.0),
    (0.20, 0.03, 0.0, 6.0),
)


@dataclass(slots=True)
class _User:
    id: uuid.UUID
    activity: float
    extra_sessions: float
    requests: float
    tz_shift: int
    signup_day: int
    providers: list[str]
    cocoons: list[uuid.UUID]
    projects: list[uuid.UUID]


@dataclass(frozen=True, slots=True)
class _Incident:
    """A window during which one service (and maybe one provider) misbehaves."""

    day: int
    start_hour: int
    hours: int
    service: str
    latency_factor: float
    rate_5xx: float
    provider: str | None = None

    def covers(self, day: int, second: float) -> bool:
        return (
            day == self.day
            and self.start_hour * 3600 <= second < (self.start_hour + self.hours) * 3600
        )


def _poisson(rng: random.Random, lam: float) -> int:
    """Poisson sample (Knuth for small means, normal approximation above 30)."""
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    threshold = math.exp(-lam)
    k, p = 0, rng.random()
    while p > threshold:
        k += 1
        p *= rng.random()
    return k


# ------------------------------------------------------------------------- simulator


class _Simulator:
    def __init__(
        self,
        config: SimulationConfig,
        clients: dict[str, AnalyticsClient],
        start: _dt.datetime,
        end: _dt.datetime,
    ) -> None:
        self.cfg = config
        self.rng = random.Random(config.seed)  # noqa: S311 - simulation, not security
        self.clients = clients
        self.start = start
        self.end = end
        self.days = (end - start).days + 1
        self.counts: Counter[str] = Counter()
        self.tracked = 0
        self.users = [self._new_user() for _ in range(config.users)]
        self.incidents = self._incidents() if config.incidents else ()
        self._track_at = {name: c.track_at for name, c in clients.items()}
        self._day_start = start
        self._day = 0

    # -- helpers -----------------------------------------------------------------------

    def uid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def emit(self, service: str, second: float, event: Event) -> None:
        """Record ``event`` at ``second`` of the current day (dropped if in the future)."""
        ts = self._day_start + _dt.timedelta(seconds=second)
        if ts > self.end:
            return
        self._track_at[service](event, ts)
        self.counts[event.event_type] += 1
        self.tracked += 1

    def _new_user(self) -> _User:
        rng = self.rng
        r = rng.random()
        acc = 0.0
        tier = _TIERS[-1]
        for t in _TIERS:
            acc += t[0]
            if r < acc:
                tier = t
                break
        # 70% existed before the span; the rest sign up during it (visible growth).
        signup = -1 if rng.random() < 0.7 else rng.randrange(self.days)
        return _User(
            id=self.uid(),
            activity=min(0.97, tier[1] * rng.uniform(0.7, 1.3)),
            extra_sessions=tier[2],
            requests=tier[3],
            tz_shift=rng.choice((-8, -5, -5, 0, 1, 1, 2, 5, 8, 9)),
            signup_day=signup,
            providers=[],
            cocoons=[self.uid() for _ in range(1 if rng.random() < 0.8 else 2)],
            projects=[self.uid() for _ in range(rng.randint(1, 4))],
        )

    def _incidents(self) -> tuple[_Incident, ...]:
        last = self.days - 1
        out = []
        if self.days >= 3:
            out.append(
                _Incident(max(0, last - 9), 14, 3, "integrations", 4.0, 0.12, provider="github")
            )
            out.append(_Incident(max(0, last - 4), 9, 2, "platform", 3.0, 0.05))
        return tuple(out)

    def _incident(self, service: str, second: float) -> _Incident | None:
        for inc in self.incidents:
            if inc.service == service and inc.covers(self._day, second):
                return inc
        return None

    # -- events ------------------------------------------------------------------------

    def request(
        self, ep: _Endpoint, second: float, user: uuid.UUID | None, endpoint: str | None = None
    ) -> int:
        """One ApiRequest (+ an ApplicationError for a 5xx); returns the status code."""
        rng = self.rng
        inc = self._incident(ep.service, second)
        duration = rng.lognormvariate(math.log(ep.median_ms), ep.sigma)
        if rng.random() < 0.006:  # the slow tail: GC pauses, cold caches, lock waits
            duration *= rng.uniform(4, 25)
        rate_5xx = _BASE_5XX
        if inc is not None:
            duration *= inc.latency_factor * rng.uniform(0.7, 1.4)
            rate_5xx = inc.rate_5xx
        r = rng.random()
        if r < rate_5xx:
            status = rng.choice((500, 502, 503, 504))
            kinds = _ERRORS[ep.service]
            etype, msg, _ = (
                kinds[0]
                if inc is not None
                else rng.choices(kinds, weights=[k[2] for k in kinds])[0]
            )
            self.emit(
                ep.service,
                second + duration / 1000,
                ApplicationError(
                    service=ep.service,
                    error_type=etype,
                    message=f"{msg} ({ep.method} {ep.path})",
                    endpoint=ep.path,
                    user_id=user,
                ),
            )
        elif r < rate_5xx + ep.rate_4xx:
            status = rng.choice(ep.codes_4xx)
        else:
            status = 201 if ep.method == "POST" else 200
        self.emit(
            ep.service,
            second,
            ApiRequest(
                service=ep.service,
                method=ep.method,
                endpoint=endpoint or ep.path,
                status_code=status,
                duration_ms=max(1, int(duration)),
                user_id=user,
            ),
        )
        if rng.random() < 0.08:
            self.emit(
                ep.service,
                second,
                DatabaseQuery(
                    service=ep.service,
                    query_type="select" if ep.method == "GET" else "update",
                    duration_ms=max(0, int(duration * rng.uniform(0.1, 0.6))),
                    table="tasks" if "task" in ep.path else None,
                    rows=rng.randint(0, 50),
                    user_id=user,
                ),
            )
        return status

    def signup(self, u: _User, second: float) -> None:
        """A new user: login, a cocoon paired, one or two integrations connected."""
        rng = self.rng
        uid = u.id
        self.login(u, second, force_success=True)
        t = second + 60
        for cocoon in u.cocoons:
            token = self.uid()
            self.emit(
                "signaling",
                t,
                CocoonSetupTokenCreated(token_id=token, user_id=uid, expires_in_secs=900),
            )
            self.request(_EP_REGISTER, t + 30, uid)
            self.emit(
                "signaling",
                t + 31,
                CocoonSetupTokenUsed(token_id=token, cocoon_id=cocoon, user_id=uid),
            )
            self.emit(
                "signaling",
                t + 31,
                CocoonRegistered(
                    cocoon_id=cocoon,
                    user_id=uid,
                    platform=rng.choice(("linux", "macos")),
                    version="1.4.2",
                ),
            )
            self.emit("signaling", t + 32, CocoonClaimed(cocoon_id=cocoon, user_id=uid))
            t += 120
        for _ in range(1 if rng.random() < 0.6 else 2):
            self.connect_provider(u, t)
            t += 90
        for project in u.projects[:1]:
            self.emit("platform", t, ProjectCreated(project_id=project, user_id=uid))

    def connect_provider(self, u: _User, second: float) -> None:
        rng = self.rng
        provider = rng.choices(_PROVIDER_NAMES, weights=_PROVIDER_WEIGHTS)[0]
        self.emit("integrations", second, OAuthFlowStarted(user_id=u.id, provider=provider))
        ok = rng.random() > 0.07
        self.emit(
            "integrations",
            second + 20,
            OAuthFlowCompleted(
                user_id=u.id,
                provider=provider,
                success=ok,
                duration_ms=int(rng.lognormvariate(math.log(9000), 0.5)),
                error=None if ok else "access_denied",
            ),
        )
        if ok:
            if provider not in u.providers:
                u.providers.append(provider)
            self.emit(
                "integrations",
                second + 21,
                IntegrationConnected(user_id=u.id, provider=provider, integration_id=self.uid()),
            )

    def login(self, u: _User, second: float, *, force_success: bool = False) -> None:
        rng = self.rng
        method = rng.choices(("password", "email_code", "oauth"), weights=(5, 3, 2))[0]
        ok = force_success or rng.random() > 0.08
        self.request(_EP_LOGIN, second, u.id)
        self.emit(
            "auth",
            second,
            AuthLoginAttempt(
                user_id=u.id if ok else None,
                success=ok,
                method=method,
                failure_reason=None
                if ok
                else rng.choice(("bad_password", "unknown_email", "locked")),
            ),
        )
        if not ok:  # most people try again and get in
            if rng.random() < 0.8:
                self.login(u, second + rng.uniform(5, 40), force_success=True)
            return
        if method == "email_code":
            attempts = 1 if rng.random() < 0.9 else 2
            code_ok = rng.random() > 0.03
            self.request(_EP_VERIFY, second + 25, u.id)
            self.emit(
                "auth",
                second + 25,
                AuthCodeVerified(
                    user_id=u.id,
                    success=code_ok,
                    attempts=attempts,
                    failure_reason=None if code_ok else "expired",
                ),
            )

    def session(self, u: _User, second: float, first_of_day: bool) -> None:
        rng = self.rng
        uid = u.id
        if first_of_day and rng.random() < 0.35:
            self.login(u, second)
        elif rng.random() < 0.6:
            ok = rng.random() > 0.01
            self.emit(
                "auth",
                second,
                AuthTokenRefresh(
                    user_id=uid, success=ok, failure_reason=None if ok else "refresh_token_revoked"
                ),
            )
        length = rng.uniform(300, 3600)
        cocoon = rng.choice(u.cocoons)
        if first_of_day:
            self.emit("signaling", second, CocoonConnected(cocoon_id=cocoon, user_id=uid))
        # API traffic
        for _ in range(_poisson(rng, u.requests)):
            t = second + rng.random() * length
            ep = rng.choices(_USER_ENDPOINTS, weights=_ENDPOINT_WEIGHTS)[0]
            status = self.request(ep, t, uid)
            if rng.random() < 0.25:
                self.emit(
                    "auth",
                    t,
                    AuthSessionValidated(
                        user_id=uid,
                        valid=status != 401,
                        reason="expired" if status == 401 else None,
                    ),
                )
        # tasks
        for _ in range(_poisson(rng, 0.35 + u.requests / 12)):
            self.task(u, second + rng.random() * length, cocoon)
        # integrations
        if u.providers and rng.random() < 0.35:
            for _ in range(1 + _poisson(rng, 1.2)):
                self.integration_action(u, second + rng.random() * length)
        # projects
        r = rng.random()
        if r < 0.12:
            self.emit(
                "platform",
                second + 5,
                ProjectUpdated(
                    project_id=rng.choice(u.projects),
                    user_id=uid,
                    changed_fields=rng.sample(["name", "description", "env", "schedule"], 2),
                ),
            )
        elif r < 0.14:
            project = self.uid()
            u.projects.append(project)
            self.emit("platform", second + 5, ProjectCreated(project_id=project, user_id=uid))
        elif r < 0.145 and len(u.projects) > 1:
            self.emit(
                "platform", second + 5, ProjectDeleted(project_id=u.projects.pop(), user_id=uid)
            )
        if rng.random() < 0.004 and u.providers:
            self.emit(
                "integrations",
                second + length,
                IntegrationDisconnected(user_id=uid, provider=u.providers.pop(), reason="user"),
            )

    def end_of_day(self, u: _User, last_second: float) -> None:
        """Each active user's cocoon disconnects when they stop for the day."""
        session_ms = int(max(60.0, last_second - 0) * 1000)
        self.emit(
            "signaling",
            min(86_399.0, last_second),
            CocoonDisconnected(
                cocoon_id=u.cocoons[0],
                user_id=u.id,
                session_duration_ms=min(session_ms, 86_400_000),
                reason=self.rng.choice(("client_closed", "client_closed", "network", "idle")),
            ),
        )

    def task(self, u: _User, second: float, cocoon: uuid.UUID) -> None:
        rng = self.rng
        tid = self.uid()
        uid = u.id
        status = self.request(_EP_CREATE_TASK, second, uid)
        if status >= 400:
            return
        project = rng.choice(u.projects) if u.projects else None
        self.emit(
            "platform",
            second,
            TaskCreated(
                task_id=tid,
                user_id=uid,
                project_id=project,
                cocoon_id=cocoon,
                command=rng.choice(_TASK_COMMANDS),
            ),
        )
        wait = rng.lognormvariate(math.log(700), 0.8)
        if self._incident("platform", second) is not None:
            wait *= 6
        t = second + wait / 1000
        self.emit(
            "platform",
            t,
            TaskStarted(task_id=tid, user_id=uid, cocoon_id=cocoon, queue_wait_ms=int(wait)),
        )
        duration = rng.lognormvariate(math.log(14_000), 1.05)
        r = rng.random()
        fail_p = 0.08 if self._incident("platform", second) is None else 0.3
        if r < 0.05:
            cut = int(duration * rng.uniform(0.1, 0.9))
            self.emit(
                "platform",
                t + cut / 1000,
                TaskCancelled(
                    task_id=tid, user_id=uid, cocoon_id=cocoon, duration_ms=cut, reason="user"
                ),
            )
        elif r < 0.05 + fail_p:
            cut = int(duration * rng.uniform(0.05, 1.0))
            self.emit(
                "platform",
                t + cut / 1000,
                TaskFailed(
                    task_id=tid,
                    user_id=uid,
                    cocoon_id=cocoon,
                    duration_ms=cut,
                    error=rng.choice(("exit status 1", "timeout", "out of memory", "cocoon lost")),
                    exit_code=1,
                ),
            )
        else:
            self.emit(
                "platform",
                t + duration / 1000,
                TaskCompleted(
                    task_id=tid,
                    user_id=uid,
                    cocoon_id=cocoon,
                    duration_ms=int(duration),
                    exit_code=0,
                ),
            )

    def integration_action(self, u: _User, second: float) -> None:
        rng = self.rng
        provider = rng.choice(u.providers)
        _, success_p, median = _PROVIDERS[provider]
        inc = self._incident("integrations", second)
        slow = 1.0
        if inc is not None and inc.provider == provider:
            success_p, slow = 0.55, inc.latency_factor
        action = rng.choice(_ACTIONS)
        duration = int(rng.lognormvariate(math.log(median * slow), 0.6))
        ok = rng.random() < success_p
        self.request(_EP_ACTION, second, u.id, endpoint="/v1/integrations/{provider}/actions")
        self.emit(
            "integrations",
            second,
            IntegrationUsed(
                user_id=u.id, provider=provider, action=action, duration_ms=duration, success=ok
            ),
        )
        if not ok:
            code = rng.choice((429, 500, 502, 503, 504) if slow == 1.0 else (502, 503, 504))
            self.emit(
                "integrations",
                second,
                IntegrationError(
                    user_id=u.id,
                    provider=provider,
                    action=action,
                    status_code=code,
                    error=f"{provider} API returned {code}",
                ),
            )

    def background_hour(self, hour: int, diurnal: float) -> None:
        """Webhooks and background errors that no user session causes."""
        rng = self.rng
        base = self.cfg.users / 800
        for provider, (weight, _, _) in _PROVIDERS.items():
            for _ in range(_poisson(rng, 1.6 * weight * base * diurnal)):
                t = hour * 3600 + rng.random() * 3600
                wtype = rng.choice(_WEBHOOK_TYPES[provider])
                self.emit(
                    "integrations",
                    t,
                    WebhookReceived(
                        provider=provider,
                        webhook_type=wtype,
                        payload_bytes=rng.randint(400, 40_000),
                    ),
                )
                self.request(_EP_WEBHOOK, t, None, endpoint="/v1/webhooks/{provider}")
                ok = rng.random() > 0.015
                self.emit(
                    "integrations",
                    t + 0.2,
                    WebhookProcessed(
                        provider=provider,
                        webhook_type=wtype,
                        success=ok,
                        duration_ms=int(rng.lognormvariate(math.log(120), 0.7)),
                        error=None if ok else "signature mismatch",
                    ),
                )
        for service, kinds in _ERRORS.items():
            for _ in range(_poisson(rng, 0.25 * base)):
                etype, msg, _ = rng.choices(kinds, weights=[k[2] for k in kinds])[0]
                self.emit(
                    service,
                    hour * 3600 + rng.random() * 3600,
                    ApplicationError(
                        service=service,
                        error_type=etype,
                        message=msg,
                        severity=rng.choice(("error", "error", "warning")),
                    ),
                )

    def day(self, day: int) -> Iterator[None]:
        """Simulate one UTC day; yields every few users so the workers get to write."""
        rng = self.rng
        self._day = day
        self._day_start = self.start + _dt.timedelta(days=day)
        weekday = self._day_start.weekday()
        weekend = 0.5 if weekday >= 5 else 1.0
        growth = 0.9 + 0.2 * day / max(1, self.days - 1)
        for hour in range(24):
            self.background_hour(hour, 0.4 + 0.6 * math.sin(math.pi * hour / 24) ** 2)
        for n, u in enumerate(self.users):
            if n % 64 == 63:
                yield
            if u.signup_day > day:
                continue
            base_hour = rng.gauss(14.5, 3.2) - u.tz_shift
            if u.signup_day == day:
                self.signup(u, (base_hour % 24) * 3600)
            elif rng.random() >= u.activity * weekend * growth:
                continue
            sessions = 1 + _poisson(rng, u.extra_sessions)
            last = 0.0
            for s in range(sessions):
                at_hour = (base_hour + s * rng.uniform(1.5, 4.0)) % 24
                second = at_hour * 3600 + rng.random() * 600
                self.session(u, second, first_of_day=s == 0)
                last = max(last, second + 1800)
            self.end_of_day(u, min(last, 86_399.0))


# ----------------------------------------------------------------------------- entry


async def simulate(
    dsn: str,
    config: SimulationConfig | None = None,
    *,
    progress: ProgressCallback | None = None,
) -> SimulationResult:
    """Generate ``config.days`` of platform activity and write it through the real pipeline.

    One :class:`AnalyticsClient` + :class:`AnalyticsWorker` per simulated service, all on
    the running event loop. The generator yields to the workers after every simulated
    hour and waits while too much is queued, so nothing is dropped and memory stays flat.
    Raises :class:`WorkerError` if any event could not be written.
    """
    cfg = config or SimulationConfig()
    end = cfg.end or _dt.datetime.now(_UTC)
    end = end.astimezone(_UTC)
    today = end.replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - _dt.timedelta(days=cfg.days)
    result = SimulationResult(start=start, end=end)

    clients: dict[str, AnalyticsClient] = {}
    workers: list[AnalyticsWorker] = []
    for service in SERVICES:
        client, wcfg = AnalyticsClient.new(
            batch_size=2_000,
            flush_interval_secs=0.5,
            service_name=service,
            hostname=f"{service}-demo-1",
            environment="demo",
            max_batch_size=5_000,
        )
        clients[service] = client
        workers.append(AnalyticsWorker(wcfg, dsn))
    tasks = [asyncio.create_task(w.run()) for w in workers]
    began = time.perf_counter()
    sim = _Simulator(cfg, clients, start, end)
    try:
        for day in range(sim.days):
            for _ in sim.day(day):
                await asyncio.sleep(0)
            # Polling: the workers expose no "queue below N" event, and 5 ms is plenty.
            while sum(c.queue_depth for c in clients.values()) > _MAX_QUEUED:  # noqa: ASYNC110
                await asyncio.sleep(0.005)
            if progress is not None:
                progress(day + 1, sim.days, sim.tracked)
    finally:
        reports = [await w.shutdown(timeout=300) for w in workers]
        await asyncio.gather(*tasks, return_exceptions=True)
    result.seconds = time.perf_counter() - began
    result.tracked = sim.tracked
    result.by_type = sim.counts
    stats = [w.stats() for w in workers]
    result.written = sum(s.written for s in stats)
    result.lost = sum(r.lost for r in reports) + sum(s.dropped + s.rejected for s in stats)
    if result.lost:
        raise WorkerError(f"simulation lost {result.lost} of {result.tracked} events")
    return result
