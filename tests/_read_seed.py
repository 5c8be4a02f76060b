"""Known events for the read-side tests, written through the real client and worker."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from dataclasses import dataclass, field

from lib_analytics_core import (
    AnalyticsClient,
    AnalyticsWorker,
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
    Event,
    IntegrationConnected,
    IntegrationError,
    IntegrationUsed,
    OAuthFlowCompleted,
    OAuthFlowStarted,
    TaskCancelled,
    TaskCompleted,
    TaskCreated,
    TaskFailed,
    TaskStarted,
)

UTC = dt.UTC


def users(n: int) -> list[uuid.UUID]:
    return [uuid.UUID(int=0x1000 + i, version=4) for i in range(n)]


@dataclass
class Seeded:
    """The events written, with the day they start from (D0, midnight UTC)."""

    d0: dt.datetime
    events: list[tuple[dt.datetime, Event]] = field(default_factory=list)

    def at(self, day: int, hour: int = 12, minute: int = 0) -> dt.datetime:
        return self.d0 + dt.timedelta(days=day, hours=hour, minutes=minute)

    def add(self, when: dt.datetime, event: Event) -> None:
        self.events.append((when, event))

    def of(self, *types: type[Event]) -> list[tuple[dt.datetime, Event]]:
        return [(t, e) for t, e in self.events if isinstance(e, types)]


def build(d0: dt.datetime) -> Seeded:
    s = Seeded(d0)
    u = users(6)
    tid = iter(uuid.UUID(int=0x9000 + i, version=4) for i in range(1000))
    # --- activity pattern for DAU/WAU/MAU (any event with a user_id counts)
    for day in range(10):
        s.add(s.at(day, 9), AuthTokenRefresh(user_id=u[0], success=True))
    for day in (0, 3, 8):
        s.add(s.at(day, 10), AuthTokenRefresh(user_id=u[1], success=day != 3))
    s.add(s.at(1, 23, 59), AuthTokenRefresh(user_id=u[2], success=True))
    s.add(s.at(9, 0, 1), AuthTokenRefresh(user_id=u[3], success=True))
    for day in (5, 6):
        s.add(s.at(day, 14), AuthTokenRefresh(user_id=u[4], success=True))
    # --- auth (day 9)
    s.add(s.at(9, 8), AuthLoginAttempt(user_id=u[5], success=True, method="password"))
    s.add(s.at(9, 8, 5), AuthLoginAttempt(user_id=u[5], success=True, method="email_code"))
    s.add(s.at(9, 8, 7), AuthLoginAttempt(success=False, method="password", failure_reason="bad"))
    s.add(s.at(9, 8, 9), AuthCodeVerified(user_id=u[5], success=True))
    s.add(s.at(9, 8, 11), AuthCodeVerified(user_id=u[5], success=False, attempts=3))
    for i, valid in enumerate((True, True, False)):
        s.add(s.at(9, 13, i), AuthSessionValidated(user_id=u[0], valid=valid))
    # --- tasks: day 2 and day 4
    durations_completed = {2: [1000, 2000, 30000, 45, 7], 4: [100, 250]}
    for day, durs in durations_completed.items():
        for i, d in enumerate(durs):
            t = next(tid)
            s.add(s.at(day, 10, i), TaskCreated(task_id=t, user_id=u[0], command="make"))
            s.add(s.at(day, 10, i), TaskStarted(task_id=t, user_id=u[0]))
            s.add(s.at(day, 11, i), TaskCompleted(task_id=t, user_id=u[0], duration_ms=d))
    t = next(tid)
    s.add(s.at(2, 12), TaskCreated(task_id=t, user_id=u[0], command="x"))
    s.add(s.at(2, 12), TaskFailed(task_id=t, user_id=u[0], duration_ms=500, error="exit 1"))
    t = next(tid)
    s.add(s.at(2, 12, 1), TaskFailed(task_id=t, user_id=u[0], error="lost"))  # no duration
    s.add(s.at(2, 12, 2), TaskCancelled(task_id=next(tid), user_id=u[0]))
    # --- API requests: days 3 and 4, several hours, two services
    endpoints = [
        ("platform", "GET", "/v1/tasks"),
        ("platform", "POST", "/v1/tasks"),
        ("auth", "GET", "/v1/auth/session"),
    ]
    n = 0
    for day in (3, 4):
        for hour in (7, 8, 15):
            for k in range(23):
                service, method, path = endpoints[(k + hour) % 3]
                duration = [1, 3, 9, 14, 40, 120, 333, 800, 2500, 61_000][(k * 7 + hour) % 10] + k
                status = 200 if k % 9 else (404 if k % 2 else 503)
                s.add(
                    s.at(day, hour, k),
                    ApiRequest(
                        service=service,
                        method=method,
                        endpoint=path,
                        status_code=status,
                        duration_ms=duration,
                    ),
                )
                n += 1
    # --- integrations (day 6)
    for i, ok in enumerate((True, True, True, False)):
        s.add(
            s.at(6, 9, i),
            IntegrationUsed(
                provider="github", action="sync", duration_ms=100 * (i + 1), success=ok
            ),
        )
    s.add(s.at(6, 9, 5), IntegrationError(provider="github", error="502"))
    for i in range(2):
        s.add(s.at(6, 10, i), IntegrationUsed(provider="slack", action="post", duration_ms=50))
    s.add(s.at(6, 11), IntegrationConnected(user_id=u[4], provider="slack"))
    s.add(s.at(6, 11), OAuthFlowStarted(user_id=u[4], provider="slack"))
    s.add(s.at(6, 11, 1), OAuthFlowCompleted(user_id=u[4], provider="slack", success=True))
    s.add(s.at(7, 11, 1), OAuthFlowCompleted(provider="linear", success=False, error="denied"))
    # --- cocoons (day 5)
    c = uuid.UUID(int=0xC0C0, version=4)
    tok = uuid.UUID(int=0x70C, version=4)
    s.add(s.at(5, 1), CocoonSetupTokenCreated(token_id=tok, user_id=u[4], expires_in_secs=600))
    s.add(s.at(5, 2), CocoonSetupTokenUsed(token_id=tok, cocoon_id=c))
    s.add(s.at(5, 2), CocoonRegistered(cocoon_id=c))
    s.add(s.at(5, 2), CocoonClaimed(cocoon_id=c, user_id=u[4]))
    s.add(s.at(5, 3), CocoonConnected(cocoon_id=c))
    s.add(s.at(5, 4), CocoonConnected(cocoon_id=c))
    s.add(s.at(5, 5), CocoonDisconnected(cocoon_id=c, session_duration_ms=60_000))
    # --- application errors (day 8)
    for minute, msg in ((1, "b timeout"), (2, "a timeout"), (3, "c timeout")):
        s.add(
            s.at(8, 4, minute),
            ApplicationError(service="platform", error_type="DbTimeout", message=msg),
        )
    s.add(s.at(8, 5), ApplicationError(service="auth", error_type="Redis", message="reset"))
    s.add(s.at(8, 6), ApplicationError(service="platform", error_type="DbTimeout", message="z"))
    return s


async def write(dsn: str, seeded: Seeded, service: str = "platform") -> int:
    """Write every event through AnalyticsClient.track_at + AnalyticsWorker; returns count."""
    client, cfg = AnalyticsClient.new(batch_size=500, flush_interval_secs=0.2, service_name=service)
    worker = AnalyticsWorker(cfg, dsn)
    task = asyncio.create_task(worker.run())
    for when, event in seeded.events:
        client.track_at(event, when)
    report = await worker.shutdown(timeout=60)
    await task
    stats = worker.stats()
    assert report.lost == 0 and stats.rejected == 0, (report, stats)
    return stats.written
