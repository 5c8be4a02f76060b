"""Helpers for the collector tests: the seed's wire JSON, and a collector on a port."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from lib_analytics_core import AnalyticsEvent, Event
from lib_analytics_core.collect.app import create_collector
from lib_analytics_core.collect.config import CollectorConfig
from lib_analytics_core.collect.tokens import TokenTable
from tests._factories import build
from tests._serve import serve_in_thread

TOKEN = "collect-token-0123456789"
OTHER_TOKEN = "collect-token-other-98765"
TOKENS = f"{TOKEN}=platform|*,{OTHER_TOKEN}=billing"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
T0 = dt.datetime(2026, 11, 20, 12, 0, 0, 123456, tzinfo=dt.UTC)


def wire_event(event: Event) -> dict[str, Any]:
    """The event as serde's internally tagged enum writes it: ``type`` first, then every
    field (None as null)."""
    fields = msgspec.to_builtins(event)
    assert isinstance(fields, dict)
    return {"type": event.event_type, **fields}


def envelope(
    event: Event,
    timestamp: dt.datetime,
    *,
    hostname: str | None = "web-1",
    environment: str | None = "production",
    **extra: Any,
) -> dict[str, Any]:
    """One seed ``EnrichedEvent`` (RFC 3339 timestamp with a ``Z``, as chrono writes)."""
    ts = timestamp.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "timestamp": ts,
        "event": wire_event(event),
        "hostname": hostname,
        "environment": environment,
        **extra,
    }


def seed_events() -> list[Event]:
    """One valid instance of each of the 29 seed event types."""
    return [build(cls, seed=i) for i, cls in enumerate(AnalyticsEvent.ALL)]


def seed_batch(start: dt.datetime = T0) -> list[dict[str, Any]]:
    return [envelope(e, start + dt.timedelta(milliseconds=i)) for i, e in enumerate(seed_events())]


def config(**overrides: Any) -> CollectorConfig:
    anonymous = overrides.pop("anonymous_service", None)
    tokens = TokenTable.parse(overrides.pop("tokens", TOKENS), anonymous_service=anonymous)
    return CollectorConfig(tokens=tokens, **overrides)


@contextlib.contextmanager
def collector(database_url: str, **overrides: Any) -> Iterator[str]:
    with serve_in_thread(create_collector(config(**overrides), database_url=database_url)) as url:
        yield url


def write_json(path: Path, value: object) -> Path:
    path.write_bytes(msgspec.json.encode(value))
    return path
