"""Typed events: names, validation at construction, JSON round trips, custom events."""

from __future__ import annotations

import re
import typing
import uuid
from typing import ClassVar

import msgspec
import pytest

import lib_analytics_core as lac
from lib_analytics_core import AnalyticsEvent, Event, EventValidationError, TaskCreated
from lib_analytics_core.ingest.encoding import uuid7
from tests._factories import build

SEED_EVENTS = [
    "AuthLoginAttempt", "AuthCodeVerified", "AuthTokenRefresh", "AuthSessionValidated",
    "TaskCreated", "TaskStarted", "TaskCompleted", "TaskFailed", "TaskCancelled",
    "IntegrationConnected", "IntegrationDisconnected", "IntegrationUsed", "IntegrationError",
    "OAuthFlowStarted", "OAuthFlowCompleted", "WebhookReceived", "WebhookProcessed",
    "CocoonRegistered", "CocoonConnected", "CocoonDisconnected", "CocoonClaimed",
    "CocoonSetupTokenCreated", "CocoonSetupTokenUsed", "ProjectCreated", "ProjectUpdated",
    "ProjectDeleted", "ApiRequest", "DatabaseQuery", "ApplicationError",
]  # fmt: skip


def test_catalogue_has_every_seed_event_under_both_spellings() -> None:
    names = [cls.__name__ for cls in AnalyticsEvent.ALL]
    assert names == SEED_EVENTS
    for name in SEED_EVENTS:
        assert getattr(AnalyticsEvent, name) is getattr(lac, name)


def test_event_types_are_stable_snake_case_and_unique() -> None:
    types_ = [cls.event_type for cls in AnalyticsEvent.ALL]
    assert len(set(types_)) == len(types_)
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", t) for t in types_)
    assert TaskCreated.event_type == "task_created"
    assert AnalyticsEvent.OAuthFlowStarted.event_type == "oauth_flow_started"
    assert AnalyticsEvent.CocoonSetupTokenUsed.event_type == "cocoon_setup_token_used"
    assert AnalyticsEvent.ApiRequest.event_type == "api_request"


@pytest.mark.parametrize("cls", AnalyticsEvent.ALL, ids=lambda c: c.__name__)
def test_every_event_round_trips_through_json(cls: type[Event]) -> None:
    event = build(cls, seed=3)
    data = event.to_json()
    assert lac.decode_event(cls.event_type, data) == event
    # what the worker stores has an extra "_meta" key; decoding ignores it
    stored = data[:-1] + b',"_meta":{"host":"h"}}'
    assert lac.decode_event(cls.event_type, stored) == event


@pytest.mark.parametrize("cls", AnalyticsEvent.ALL, ids=lambda c: c.__name__)
def test_every_event_exposes_user_and_service(cls: type[Event]) -> None:
    event = build(cls, seed=2)
    hints = typing.get_type_hints(cls)
    assert "user_id" in hints, f"{cls.__name__} must say which user it concerns"
    fields = msgspec.structs.asdict(event)
    assert event.concerned_user_id == fields["user_id"]
    if "service" in hints:
        assert event.concerned_service == fields["service"]
    else:
        assert event.concerned_service is None


def test_seed_example_constructs() -> None:
    task_id, user_id, project_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    event = AnalyticsEvent.TaskCreated(
        task_id=task_id, user_id=user_id, project_id=project_id, cocoon_id=None, command="ls -la"
    )
    assert event.task_id == task_id
    assert event.user_id == user_id
    with pytest.raises(AttributeError):
        event.command = "rm"  # frozen at runtime


def test_wrong_type_fails_at_construction_naming_class_and_field() -> None:
    with pytest.raises(EventValidationError, match=r"TaskCreated\.user_id: expected UUID, got str"):
        TaskCreated(task_id=uuid.uuid4(), user_id="not-a-uuid", command="x")  # type: ignore[arg-type]
    with pytest.raises(EventValidationError, match=r"ApiRequest\.status_code"):
        lac.ApiRequest(
            service="s",
            method="GET",
            endpoint="/",
            status_code="200",  # type: ignore[arg-type]
            duration_ms=1,
        )
    with pytest.raises(EventValidationError, match=r"ApiRequest\.duration_ms"):
        lac.ApiRequest(service="s", method="GET", endpoint="/", status_code=200, duration_ms=True)
    with pytest.raises(EventValidationError, match=r"ProjectUpdated\.changed_fields"):
        lac.ProjectUpdated(project_id=uuid.uuid4(), user_id=uuid.uuid4(), changed_fields=[1])  # type: ignore[list-item]
    with pytest.raises(EventValidationError, match=r"TaskCreated\.project_id"):
        TaskCreated(task_id=uuid.uuid4(), user_id=uuid.uuid4(), project_id=5, command="x")  # type: ignore[arg-type]


def test_missing_field_fails_at_construction() -> None:
    with pytest.raises(TypeError, match="Missing required argument 'command'"):
        TaskCreated(task_id=uuid.uuid4(), user_id=uuid.uuid4())  # type: ignore[call-arg]


def test_decoding_bad_data_raises_library_error() -> None:
    with pytest.raises(EventValidationError):
        TaskCreated.from_json(b'{"task_id": "nope", "user_id": null, "command": 1}')
    with pytest.raises(lac.UnknownEventTypeError):
        lac.decode_event("no_such_event", b"{}")


def test_custom_events_register_and_decode() -> None:
    class InvoicePaid(Event):
        event_type: ClassVar[str] = "test_invoice_paid"
        invoice_id: uuid.UUID
        amount_cents: int
        user_id: uuid.UUID | None = None
        currency: str = "EUR"

    class ReportExported(Event):  # event_type derived from the class name
        user_id: uuid.UUID
        rows: int

    assert ReportExported.event_type == "report_exported"
    assert lac.event_class("test_invoice_paid") is InvoicePaid
    event = InvoicePaid(invoice_id=uuid.uuid4(), amount_cents=1234)
    assert lac.decode_event("test_invoice_paid", event.to_json()) == event
    with pytest.raises(EventValidationError, match=r"InvoicePaid\.amount_cents"):
        InvoicePaid(invoice_id=uuid.uuid4(), amount_cents=12.5)  # type: ignore[arg-type]


def test_duplicate_event_type_is_refused() -> None:
    with pytest.raises(EventValidationError, match="already used"):

        class Impostor(Event):
            event_type: ClassVar[str] = "task_created"
            user_id: uuid.UUID | None = None


def test_invalid_event_type_is_refused() -> None:
    with pytest.raises(EventValidationError, match="snake_case"):

        class BadName(Event):
            event_type: ClassVar[str] = "Bad-Name"


def test_uuid7_is_version_7_and_time_ordered() -> None:
    base = 1_780_000_000_000_000_000
    ids = [uuid7(base + i * 1000) for i in range(2000)]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in ids)
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    # the first 48 bits are the unix milliseconds
    assert ids[0].int >> 80 == base // 1_000_000


def test_enriched_event_carries_time_id_and_metadata() -> None:
    from lib_analytics_core.ingest.encoding import RowEncoder

    config = lac.AnalyticsConfig(service_name="platform", environment="prod", release="1.2.3")
    encoder = RowEncoder(config)
    event = build(TaskCreated)
    enriched = encoder.enrich(1_780_000_000_123_456_789, event)
    assert enriched.event is event
    assert enriched.event_type == "task_created"
    assert enriched.timestamp.isoformat() == "2026-05-28T20:26:40.123456+00:00"
    assert enriched.event_id.version == 7
    assert enriched.metadata == config.metadata
    assert enriched.metadata is not None and enriched.metadata.release == "1.2.3"
    encoded = msgspec.json.decode(encoder.encode([(1_780_000_000_123_456_789, event)]).rows[0][5])
    assert encoded["_meta"] == {"host": config.hostname, "env": "prod", "release": "1.2.3"}
