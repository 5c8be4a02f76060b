"""The maintainer's pacing: a long tick (today's refresh grows with today's events)
must not be followed by another at once, so the upkeep stays under ``max_busy`` of a
core wherever the lease allows (``MaintainerSchedule.delay_after``)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lib_analytics_core._errors import ConfigurationError
from lib_analytics_core.schema.maintainer import Maintainer, MaintainerSchedule, Role


@given(
    refresh=st.floats(0.1, 60),
    ttl_extra=st.floats(0.1, 600),
    share=st.floats(0.01, 1.0),
    busy=st.floats(0, 3600),
)
def test_the_delay_bounds_the_busy_share_within_the_lease(
    refresh: float, ttl_extra: float, share: float, busy: float
) -> None:
    schedule = MaintainerSchedule(
        refresh_every=refresh, lease_ttl=refresh + ttl_extra, max_busy=share
    )
    delay = schedule.delay_after(busy)
    assert delay >= refresh  # never more often than asked
    assert delay <= max(refresh, schedule.lease_ttl / 2)  # the lease is renewed in time
    if delay < schedule.lease_ttl / 2 and busy > 0:  # not capped by the lease
        assert busy / (busy + delay) <= share + 1e-9


def test_a_share_outside_0_1_is_refused() -> None:
    for bad in (0.0, -0.5, 1.5):
        with pytest.raises(ConfigurationError):
            MaintainerSchedule(max_busy=bad)


async def test_the_loop_waits_longer_after_a_long_tick(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: a 12 s tick was followed by the next one 15 s later, whatever it cost
    (80 % of a core when today's refresh takes 12 s); now by 36 s (25 %)."""
    now = [1000.0]
    # The module's clock only (the event loop keeps the real one).
    monkeypatch.setattr(
        "lib_analytics_core.schema.maintainer.time", SimpleNamespace(monotonic=lambda: now[0])
    )
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 3:
            raise asyncio.CancelledError

    class SlowTicks(Maintainer):
        async def tick(self) -> Role:
            now[0] += [12.0, 0.01, 100.0][len(slept)]
            return Role.HOLDER

    schedule = MaintainerSchedule(refresh_every=15, lease_ttl=80, max_busy=0.25)
    loop = SlowTicks("postgresql://unused@127.0.0.1:1/none", schedule=schedule, sleep=sleep)
    with pytest.raises(asyncio.CancelledError):
        await loop.run()
    assert slept == [pytest.approx(36.0), 15.0, 40.0]  # paced, the floor, the lease cap
