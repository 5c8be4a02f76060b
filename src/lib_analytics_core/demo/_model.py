"""The simulated platform's traffic model: its endpoints with their latency and error
profiles, integration providers, error kinds, user engagement tiers and incidents.

Data only (and the small types it needs), apart from the code that draws from it
(``_behaviour``) and the code that runs the calendar (``simulate``): tuning how the demo
platform looks is an edit here.
"""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass


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
