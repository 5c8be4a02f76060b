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
from ..ingest.client import AnalyticsClient
from ..ingest.worker import AnalyticsWorker
from ._behaviour import Behaviour
from ._model import _TIERS, _Incident, _poisson, _User

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
        self.behaviour = Behaviour(self.rng, self.uid, self.emit, self._incident, config.users)

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
    def day(self, day: int) -> Iterator[None]:
        """Simulate one UTC day; yields every few users so the workers get to write."""
        rng = self.rng
        self._day = day
        self._day_start = self.start + _dt.timedelta(days=day)
        weekday = self._day_start.weekday()
        weekend = 0.5 if weekday >= 5 else 1.0
        growth = 0.9 + 0.2 * day / max(1, self.days - 1)
        for hour in range(24):
            self.behaviour.background_hour(hour, 0.4 + 0.6 * math.sin(math.pi * hour / 24) ** 2)
        for n, u in enumerate(self.users):
            if n % 64 == 63:
                yield
            if u.signup_day > day:
                continue
            base_hour = rng.gauss(14.5, 3.2) - u.tz_shift
            if u.signup_day == day:
                self.behaviour.signup(u, (base_hour % 24) * 3600)
            elif rng.random() >= u.activity * weekend * growth:
                continue
            sessions = 1 + _poisson(rng, u.extra_sessions)
            last = 0.0
            for s in range(sessions):
                at_hour = (base_hour + s * rng.uniform(1.5, 4.0)) % 24
                second = at_hour * 3600 + rng.random() * 600
                self.behaviour.session(u, second, first_of_day=s == 0)
                last = max(last, second + 1800)
            self.behaviour.end_of_day(u, min(last, 86_399.0))


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
