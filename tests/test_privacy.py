"""Privacy hooks and sampling, asserted on the rows actually stored."""

from __future__ import annotations

import hashlib
import hmac
import math
import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg
import pytest

from lib_analytics_core import (
    AnalyticsClient,
    AnalyticsConfig,
    AnalyticsWorker,
    ApiRequest,
    ApplicationError,
    AuthLoginAttempt,
    ConfigurationError,
    Event,
    TaskCompleted,
    WebhookReceived,
)
from lib_analytics_core.privacy import (
    DEFAULT_BEFORE_TRACK,
    PII_FIELDS,
    REDACTED,
    compose,
    drop_events,
    hash_fields,
    keyed_hash,
    pii_policy,
    redact_fields,
)
from tests._integrations import rows

SECRET = "s3cret-key-for-tests-0123456789"
USER = uuid.UUID("0190a0b0-0000-7000-8000-0000000000a1")


async def run(database_url: str, events: Sequence[Event], **options: Any) -> AnalyticsWorker:
    client, cfg = AnalyticsClient.new(
        batch_size=1000, flush_interval_secs=0.05, service_name="auth", **options
    )
    worker = AnalyticsWorker(cfg, database_url)
    for event in events:
        client.track(event)
    assert await worker.flush(timeout=60)
    await worker.shutdown(timeout=30)
    return worker


def login(email: str | None) -> AuthLoginAttempt:
    return AuthLoginAttempt(user_id=USER, success=True, method="email_code", email=email)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("drop", None),
        (
            "hash",
            hmac.new(SECRET.encode(), b"ann@example.com", hashlib.sha256).hexdigest(),
        ),
        ("raw", " Ann@Example.com"),
    ],
)
async def test_email_policy_on_stored_rows(
    database_url: str, db: asyncpg.Connection, mode: str, expected: str | None
) -> None:
    hook = pii_policy(email=mode, secret=SECRET)  # type: ignore[arg-type]
    await run(database_url, [login(" Ann@Example.com"), login(None)], before_track=hook)
    stored = await rows(db, "auth_login_attempt")
    assert [r["data"]["email"] for r in stored] == [expected, None]
    assert all(r["user_id"] == USER and r["data"]["success"] is True for r in stored)
    raw = await db.fetchval("SELECT string_agg(data::text, ' ') FROM analytics_events")
    assert ("ann@example.com" in raw.lower()) is (mode == "raw")


async def test_default_client_stores_no_email(database_url: str, db: asyncpg.Connection) -> None:
    """Issue 15: ``AnalyticsClient.new()`` with no ``before_track`` drops the email."""
    await run(database_url, [login("ann@example.com")])
    stored = await rows(db, "auth_login_attempt")
    assert [r["data"]["email"] for r in stored] == [None]
    assert stored[0]["user_id"] == USER and stored[0]["data"]["method"] == "email_code"
    raw = await db.fetchval("SELECT string_agg(data::text, ' ') FROM analytics_events")
    assert "ann@example.com" not in raw
    assert AnalyticsConfig().before_track is DEFAULT_BEFORE_TRACK  # the pinned default


async def test_raw_email_is_stored_only_when_chosen(
    database_url: str, db: asyncpg.Connection
) -> None:
    await run(database_url, [login("ann@example.com")], before_track=pii_policy(email="raw"))
    stored = await rows(db, "auth_login_attempt")
    assert [r["data"]["email"] for r in stored] == ["ann@example.com"]


def test_hash_is_keyed_normalised_and_needs_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    assert keyed_hash("Ann@Example.com ", SECRET) == keyed_hash("ann@example.com", SECRET)
    assert keyed_hash("ann@example.com", SECRET) != keyed_hash("ann@example.com", SECRET + "x")
    assert keyed_hash("ann@example.com", SECRET) != hashlib.sha256(b"ann@example.com").hexdigest()
    monkeypatch.delenv("ANALYTICS_PII_SECRET", raising=False)
    with pytest.raises(ConfigurationError, match="secret"):
        pii_policy(email="hash")
    with pytest.raises(ConfigurationError, match="16 bytes"):
        pii_policy(email="hash", secret="short")
    monkeypatch.setenv("ANALYTICS_PII_SECRET", SECRET)
    hashed = pii_policy(email="hash")(login("ann@example.com"))
    assert isinstance(hashed, AuthLoginAttempt)
    assert hashed.email == keyed_hash("ann@example.com", SECRET)
    with pytest.raises(ConfigurationError, match="email must be"):
        pii_policy(email="plain")  # type: ignore[arg-type]


def test_hook_construction_is_validated() -> None:
    with pytest.raises(ConfigurationError, match="no field"):
        redact_fields(AuthLoginAttempt, "password")
    with pytest.raises(ConfigurationError, match="cannot be redacted"):
        redact_fields(TaskCompleted, "duration_ms")
    with pytest.raises(ConfigurationError, match="not text"):
        hash_fields(TaskCompleted, "duration_ms", secret=SECRET)
    with pytest.raises(ConfigurationError, match="Event subclass"):
        drop_events(int)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="callable"):
        compose("nope")  # type: ignore[arg-type]
    assert set(PII_FIELDS) == {AuthLoginAttempt}


async def test_composed_redact_hash_and_drop(database_url: str, db: asyncpg.Connection) -> None:
    hook = compose(
        pii_policy(email="hash", secret=SECRET),
        redact_fields(ApplicationError, "message", "endpoint"),
        hash_fields(ApiRequest, "endpoint", secret=SECRET),
        drop_events(WebhookReceived, lambda e: isinstance(e, ApiRequest) and e.status_code == 204),
    )
    events = [
        login("bob@example.com"),
        ApplicationError(
            service="auth",
            error_type="ValueError",
            message="bad email bob@example.com",
            endpoint="/login",
        ),
        ApiRequest(service="auth", method="GET", endpoint="/me", status_code=200, duration_ms=3),
        ApiRequest(service="auth", method="GET", endpoint="/me", status_code=204, duration_ms=3),
        WebhookReceived(provider="github", webhook_type="push"),
    ]
    worker = await run(database_url, events, before_track=hook)
    assert worker.stats().hook_dropped == 2
    counts = {
        r[0]: r[1]
        for r in await db.fetch("SELECT event_type, count(*) FROM analytics_events GROUP BY 1")
    }
    assert counts == {"auth_login_attempt": 1, "application_error": 1, "api_request": 1}
    (error,) = await rows(db, "application_error")
    assert error["data"]["message"] == REDACTED
    assert error["data"]["endpoint"] is None
    assert error["data"]["error_type"] == "ValueError"
    (request,) = await rows(db, "api_request")
    assert request["data"]["endpoint"] == keyed_hash("/me", SECRET)
    (attempt,) = await rows(db, "auth_login_attempt")
    assert attempt["data"]["email"] == keyed_hash("bob@example.com", SECRET)
    everything = await db.fetchval("SELECT string_agg(data::text, ' ') FROM analytics_events")
    assert "bob@example.com" not in everything


async def test_sampling_counts_scale_back_within_five_sigma(
    database_url: str, db: asyncpg.Connection
) -> None:
    n, rate = 20_000, 0.1
    events: list[Event] = [
        ApiRequest(service="edge", method="GET", endpoint="/v1/x", status_code=200, duration_ms=1)
        for _ in range(n)
    ]
    events += [login(None) for _ in range(100)]  # other types are not sampled
    worker = await run(database_url, events, sample_rates={"api_request": rate})
    kept = await db.fetchval(
        "SELECT count(*) FROM analytics_events WHERE event_type = 'api_request'"
    )
    estimated = await db.fetchval(
        "SELECT sum(1.0 / coalesce((data->'_meta'->>'sample_rate')::float8, 1.0)) "
        "FROM analytics_events WHERE event_type = 'api_request'"
    )
    sigma = math.sqrt(n * rate * (1 - rate))  # binomial: ~42 kept rows
    assert abs(kept - n * rate) <= 5 * sigma
    assert abs(float(estimated) - n) <= 5 * sigma / rate
    rates = await db.fetch(
        "SELECT DISTINCT (data->'_meta'->>'sample_rate')::float8 AS r FROM analytics_events "
        "WHERE event_type = 'api_request'"
    )
    assert [r["r"] for r in rates] == [rate]
    logins = await db.fetchval(
        "SELECT count(*) FROM analytics_events WHERE event_type = 'auth_login_attempt' "
        "AND data->'_meta' ? 'sample_rate'"
    )
    assert logins == 0
    assert (
        await db.fetchval(
            "SELECT count(*) FROM analytics_events WHERE event_type = 'auth_login_attempt'"
        )
        == 100
    )
    assert worker.stats().sampled_out == n - kept
