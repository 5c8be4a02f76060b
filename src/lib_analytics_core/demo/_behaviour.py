"""What the simulated users and the platform's background do, event by event.

A session's logins, requests, tasks, integration use and project edits, a sign-up, the
end of a user's day, and each hour's webhooks and background errors, drawn from the
traffic model (``_model``). The simulator (``simulate``) owns the calendar, the random
generator and the clients, and hands this class what it draws with: a new kind of
traffic is one method here, and the order of draws (what makes a seed reproducible)
is this module's alone.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Callable

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
from ._model import (
    _ACTIONS,
    _BASE_5XX,
    _ENDPOINT_WEIGHTS,
    _EP_ACTION,
    _EP_CREATE_TASK,
    _EP_LOGIN,
    _EP_REGISTER,
    _EP_VERIFY,
    _EP_WEBHOOK,
    _ERRORS,
    _PROVIDER_NAMES,
    _PROVIDER_WEIGHTS,
    _PROVIDERS,
    _TASK_COMMANDS,
    _USER_ENDPOINTS,
    _WEBHOOK_TYPES,
    _Endpoint,
    _Incident,
    _poisson,
    _User,
)

__all__ = ["Behaviour"]


class Behaviour:
    """The event model, drawing with the simulator's ``rng``: ``uid()`` a fresh id from
    it, ``emit(service, second, event)`` records an event at a second of the current
    day, ``incident(service, second)`` the incident covering it, if any; ``population``
    the number of simulated users (background traffic scales with it)."""

    def __init__(
        self,
        rng: random.Random,
        uid: Callable[[], uuid.UUID],
        emit: Callable[[str, float, Event], None],
        incident: Callable[[str, float], _Incident | None],
        population: int,
    ) -> None:
        self.rng = rng
        self.uid = uid
        self.emit = emit
        self._incident = incident
        self.population = population

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
        base = self.population / 800
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
