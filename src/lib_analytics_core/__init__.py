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
    ErrorKind,
    EventValidationError,
    MigrationError,
    NotMigratedError,
    QueryError,
    UnknownEventTypeError,
    WorkerError,
)

# The seed's events: each defined once, as a class in events/catalog.py. That module is
# the AnalyticsEvent namespace, and its derived __all__ is re-exported here, so no list of
# event names exists in this file.
from .events import catalog as AnalyticsEvent
from .events.base import Event, decode_event, event_class, registered_event_types
from .events.catalog import *  # noqa: F403 - the catalogue's derived __all__
from .ingest.client import AnalyticsClient, NoopClient
from .ingest.encoding import EnrichedEvent, Rejected
from .ingest.sinks.nats_config import BusConfig
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

__all__ = [  # noqa: PLE0604 - the event classes are derived, see above
    "ActiveUsersRow",
    "AggregateHealth",
    "AnalyticsClient",
    "AnalyticsConfig",
    "AnalyticsError",
    "AnalyticsEvent",
    "AnalyticsWorker",
    "ApiLatencyRow",
    "AuthMetricsRow",
    "BusConfig",
    "BusError",
    "ChecksumMismatchError",
    "ClientMetadata",
    "CocoonActivityRow",
    "ConfigurationError",
    "DatabaseError",
    "DatabaseUnavailableError",
    "EnrichedEvent",
    "ErrorKind",
    "ErrorRow",
    "Event",
    "EventTrendRow",
    "EventValidationError",
    "IntegrationHealthRow",
    "JobHealth",
    "MaintenanceReport",
    "MigrationError",
    "MigrationReport",
    "MigrationState",
    "MigrationStatus",
    "NoopClient",
    "NotMigratedError",
    "Overview",
    "QueryError",
    "Rejected",
    "SchemaHealth",
    "SchemaTier",
    "ServerInfo",
    "ServerKind",
    "ShutdownReport",
    "TaskStatsRow",
    "ThreadedWorker",
    "TopErrorRow",
    "UnknownEventTypeError",
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
    *(cls.__name__ for cls in AnalyticsEvent.ALL),
]
