"""lib-analytics-core: typed events, non-blocking tracking, batched PostgreSQL writes.

Quick start (the seed's shape)::

    client, cfg = AnalyticsClient.new(batch_size=100, flush_interval_secs=10)
    worker = AnalyticsWorker(cfg, pool)            # an asyncpg pool or a DSN
    task = asyncio.create_task(worker.run())
    client.track(AnalyticsEvent.TaskCreated(task_id=..., user_id=..., command="ls"))
    ...
    await worker.shutdown(timeout=10)

Everything public is re-exported here; modules starting with ``_`` are private.
"""

from ._config import AnalyticsConfig, ClientMetadata
from ._errors import (
    AnalyticsError,
    BusError,
    ChecksumMismatchError,
    ConfigurationError,
    DatabaseError,
    DatabaseUnavailableError,
    EventValidationError,
    MigrationError,
    QueryError,
    UnknownEventTypeError,
    WorkerError,
)
from .bus.config import BusConfig
from .events.base import Event, decode_event, event_class, registered_event_types
from .events.catalog import (
    AnalyticsEvent,
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
from .ingest.client import AnalyticsClient, NoopClient
from .ingest.encoding import EnrichedEvent, Rejected
from .ingest.stats import ShutdownReport, WorkerStats
from .ingest.threaded import ThreadedWorker
from .ingest.worker import AnalyticsWorker
from .ingest.worker_config import WorkerConfig
from .read.queries import (
    ActiveUsersRow,
    ApiLatencyRow,
    AuthMetricsRow,
    CocoonActivityRow,
    ErrorRow,
    IntegrationHealthRow,
    TaskStatsRow,
    TopErrorRow,
    active_users,
    api_latency,
    auth_metrics,
    cocoon_activity,
    errors,
    integration_health,
    list_services,
    task_stats,
    top_errors,
)
from .read.questions import (
    EventTrendRow,
    Overview,
    event_trends,
    list_event_types,
    overview,
    top_endpoints,
)
from .read.window import Window, last_days
from .schema.erasure import forget_user
from .schema.health import AggregateHealth, JobHealth, SchemaHealth, schema_health
from .schema.maintenance import MaintenanceReport, maintain, refresh_aggregates
from .schema.migrate import (
    MigrationReport,
    MigrationState,
    MigrationStatus,
    migrate,
    migration_status,
)
from .schema.server import SchemaTier, ServerInfo, ServerKind, detect_server_kind

__version__ = "0.1.0"

__all__ = [
    "ActiveUsersRow",
    "AggregateHealth",
    "AnalyticsClient",
    "AnalyticsConfig",
    "AnalyticsError",
    "AnalyticsEvent",
    "AnalyticsWorker",
    "ApiLatencyRow",
    "ApiRequest",
    "ApplicationError",
    "AuthCodeVerified",
    "AuthLoginAttempt",
    "AuthMetricsRow",
    "AuthSessionValidated",
    "AuthTokenRefresh",
    "BusConfig",
    "BusError",
    "ChecksumMismatchError",
    "ClientMetadata",
    "CocoonActivityRow",
    "CocoonClaimed",
    "CocoonConnected",
    "CocoonDisconnected",
    "CocoonRegistered",
    "CocoonSetupTokenCreated",
    "CocoonSetupTokenUsed",
    "ConfigurationError",
    "DatabaseError",
    "DatabaseQuery",
    "DatabaseUnavailableError",
    "EnrichedEvent",
    "ErrorRow",
    "Event",
    "EventTrendRow",
    "EventValidationError",
    "IntegrationConnected",
    "IntegrationDisconnected",
    "IntegrationError",
    "IntegrationHealthRow",
    "IntegrationUsed",
    "JobHealth",
    "MaintenanceReport",
    "MigrationError",
    "MigrationReport",
    "MigrationState",
    "MigrationStatus",
    "NoopClient",
    "OAuthFlowCompleted",
    "OAuthFlowStarted",
    "Overview",
    "ProjectCreated",
    "ProjectDeleted",
    "ProjectUpdated",
    "QueryError",
    "Rejected",
    "SchemaHealth",
    "SchemaTier",
    "ServerInfo",
    "ServerKind",
    "ShutdownReport",
    "TaskCancelled",
    "TaskCompleted",
    "TaskCreated",
    "TaskFailed",
    "TaskStarted",
    "TaskStatsRow",
    "ThreadedWorker",
    "TopErrorRow",
    "UnknownEventTypeError",
    "WebhookProcessed",
    "WebhookReceived",
    "Window",
    "WorkerConfig",
    "WorkerError",
    "WorkerStats",
    "__version__",
    "active_users",
    "api_latency",
    "auth_metrics",
    "cocoon_activity",
    "decode_event",
    "detect_server_kind",
    "errors",
    "event_class",
    "event_trends",
    "forget_user",
    "integration_health",
    "last_days",
    "list_event_types",
    "list_services",
    "maintain",
    "migrate",
    "migration_status",
    "overview",
    "refresh_aggregates",
    "registered_event_types",
    "schema_health",
    "task_stats",
    "top_endpoints",
    "top_errors",
]
