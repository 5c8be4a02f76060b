"""The platform's catalogue of trackable events (the seed's ``AnalyticsEvent`` enum).

One class per event, so a handler gets type checking and completion on its fields and
the aggregates can rely on field names. Conventions the migrations depend on:

* ids are ``uuid.UUID``; durations are milliseconds (``duration_ms``), integers or fractions;
* numbers are bounded where the event is built (``events.limits``: durations 0 to 24.8
  days, HTTP statuses 100-599, counts non-negative), so no stored value can break an
  aggregate's SQL cast;
* ``success`` is a ``bool``; errors are free text in ``error``;
* ``user_id`` is the user the event concerns (None when there is none or it is unknown);
* ``service`` is set only on the operational events that several services emit
  (``ApiRequest``, ``DatabaseQuery``, ``ApplicationError``); other events take the
  client's configured service name.

Personal data: only ``AuthLoginAttempt.email`` carries any. Keep it out unless you need it.

This module *is* the seed's ``AnalyticsEvent`` namespace: the package exports it under
that name, so ``AnalyticsEvent.TaskCreated(...)`` is this module's class (typed for mypy
and editors) and ``AnalyticsEvent.ALL`` is :data:`ALL`. Each event is written once, as
its class; ``ALL``, ``__all__``, the package's exports, the docs table
(``docs/collector.md``), the JSON Schemas (``events.jsonschema``) and the collector's
wire types (``events.wire``) are all derived from the registry.
"""

from __future__ import annotations

import uuid
from typing import ClassVar

import msgspec

from .base import Event, events_defined_in
from .limits import Count, DurationMs, ExitCode, HttpStatus, SessionMs

# ----------------------------------------------------------------------------- auth


class AuthLoginAttempt(Event):
    """A user tried to log in (successfully or not)."""

    success: bool
    method: str
    """How: ``"password"``, ``"email_code"``, ``"oauth"``..."""
    user_id: uuid.UUID | None = None
    email: str | None = None
    """Personal data: prefer leaving it None; the privacy policy can hash or drop it."""
    failure_reason: str | None = None


class AuthCodeVerified(Event):
    """A login code sent to the user was checked."""

    success: bool
    user_id: uuid.UUID | None = None
    attempts: Count = 1
    failure_reason: str | None = None


class AuthTokenRefresh(Event):
    """A refresh token was exchanged for a new access token."""

    success: bool
    user_id: uuid.UUID | None = None
    failure_reason: str | None = None


class AuthSessionValidated(Event):
    """A session token was checked on an incoming request."""

    valid: bool
    user_id: uuid.UUID | None = None
    reason: str | None = None


# ----------------------------------------------------------------------------- tasks


class TaskCreated(Event):
    """A task was created (the seed's example event)."""

    task_id: uuid.UUID
    user_id: uuid.UUID
    command: str
    project_id: uuid.UUID | None = None
    cocoon_id: uuid.UUID | None = None


class TaskStarted(Event):
    """A task began executing on a cocoon."""

    task_id: uuid.UUID
    user_id: uuid.UUID
    cocoon_id: uuid.UUID | None = None
    queue_wait_ms: DurationMs | None = None


class TaskCompleted(Event):
    """A task finished successfully."""

    task_id: uuid.UUID
    user_id: uuid.UUID
    duration_ms: DurationMs
    cocoon_id: uuid.UUID | None = None
    exit_code: ExitCode | None = 0


class TaskFailed(Event):
    """A task finished with an error."""

    task_id: uuid.UUID
    user_id: uuid.UUID
    error: str
    cocoon_id: uuid.UUID | None = None
    duration_ms: DurationMs | None = None
    exit_code: ExitCode | None = None


class TaskCancelled(Event):
    """A user cancelled a task before it finished."""

    task_id: uuid.UUID
    user_id: uuid.UUID
    cocoon_id: uuid.UUID | None = None
    duration_ms: DurationMs | None = None
    reason: str | None = None


# ---------------------------------------------------------------------- integrations


class IntegrationConnected(Event):
    """A user connected a third-party integration."""

    user_id: uuid.UUID
    provider: str
    integration_id: uuid.UUID | None = None


class IntegrationDisconnected(Event):
    """A user (or the provider) disconnected an integration."""

    user_id: uuid.UUID
    provider: str
    integration_id: uuid.UUID | None = None
    reason: str | None = None


class IntegrationUsed(Event):
    """An action was performed through an integration."""

    provider: str
    action: str
    duration_ms: DurationMs
    user_id: uuid.UUID | None = None
    success: bool = True


class IntegrationError(Event):
    """An integration call failed."""

    provider: str
    error: str
    user_id: uuid.UUID | None = None
    action: str | None = None
    status_code: HttpStatus | None = None


class OAuthFlowStarted(Event):
    """An OAuth authorisation flow was initiated."""

    event_type: ClassVar[str] = "oauth_flow_started"
    provider: str
    user_id: uuid.UUID | None = None


class OAuthFlowCompleted(Event):
    """An OAuth authorisation flow came back (successfully or not)."""

    event_type: ClassVar[str] = "oauth_flow_completed"
    provider: str
    success: bool
    user_id: uuid.UUID | None = None
    duration_ms: DurationMs | None = None
    error: str | None = None


# --------------------------------------------------------------------------- webhooks


class WebhookReceived(Event):
    """A webhook arrived from an external service."""

    provider: str
    webhook_type: str
    user_id: uuid.UUID | None = None
    payload_bytes: Count | None = None


class WebhookProcessed(Event):
    """Processing of a received webhook finished."""

    provider: str
    webhook_type: str
    success: bool
    duration_ms: DurationMs
    user_id: uuid.UUID | None = None
    error: str | None = None


# ---------------------------------------------------------------------------- cocoons


class CocoonRegistered(Event):
    """A cocoon (execution agent) registered itself."""

    cocoon_id: uuid.UUID
    user_id: uuid.UUID | None = None
    platform: str | None = None
    version: str | None = None


class CocoonConnected(Event):
    """A cocoon connected to the signaling server."""

    cocoon_id: uuid.UUID
    user_id: uuid.UUID | None = None


class CocoonDisconnected(Event):
    """A cocoon's signaling connection ended."""

    cocoon_id: uuid.UUID
    user_id: uuid.UUID | None = None
    session_duration_ms: SessionMs | None = None
    reason: str | None = None


class CocoonClaimed(Event):
    """A user claimed a cocoon as theirs."""

    cocoon_id: uuid.UUID
    user_id: uuid.UUID


class CocoonSetupTokenCreated(Event):
    """A setup token for pairing a new cocoon was generated."""

    token_id: uuid.UUID
    user_id: uuid.UUID
    expires_in_secs: Count


class CocoonSetupTokenUsed(Event):
    """A setup token was redeemed by a cocoon."""

    token_id: uuid.UUID
    cocoon_id: uuid.UUID
    user_id: uuid.UUID | None = None


# --------------------------------------------------------------------------- projects


class ProjectCreated(Event):
    """A project was created."""

    project_id: uuid.UUID
    user_id: uuid.UUID


class ProjectUpdated(Event):
    """A project's settings changed; ``changed_fields`` names them (never their values)."""

    project_id: uuid.UUID
    user_id: uuid.UUID
    changed_fields: list[str] = msgspec.field(default_factory=list)


class ProjectDeleted(Event):
    """A project was deleted."""

    project_id: uuid.UUID
    user_id: uuid.UUID


# ------------------------------------------------------------------------ operational


class ApiRequest(Event):
    """One HTTP API request, as the ASGI/WSGI middleware records it.

    ``endpoint`` is the route template (``/v1/tasks/{task_id}``), never the raw path:
    raw paths make every id its own endpoint in the latency aggregates.
    """

    service: str
    method: str
    endpoint: str
    status_code: HttpStatus
    duration_ms: DurationMs
    user_id: uuid.UUID | None = None


class DatabaseQuery(Event):
    """A database query executed by a service (sampled by the query hooks)."""

    service: str
    query_type: str
    """``select``, ``insert``, ``update``, ``delete`` or ``other``."""
    duration_ms: DurationMs
    table: str | None = None
    rows: Count | None = None
    success: bool = True
    user_id: uuid.UUID | None = None


class ApplicationError(Event):
    """An error a service logged or failed with."""

    service: str
    error_type: str
    message: str
    severity: str = "error"
    endpoint: str | None = None
    user_id: uuid.UUID | None = None


# ------------------------------------------------------------------ derived, not listed

ALL: tuple[type[Event], ...] = events_defined_in(__name__)
"""The seed's catalogue in definition order: every ``Event`` class above, found in the
registry (``events.base.events_defined_in``), never written out a second time."""

# The exports are the classes themselves: ``from lib_analytics_core import TaskCreated``
# and the package's ``__all__`` are derived from this. Assigned through globals() on
# purpose: a type checker then sees no ``__all__`` and takes the module's public
# definitions (the classes above) as its exports, which is exactly this list.
globals()["__all__"] = [cls.__name__ for cls in ALL]
