"""Creating, updating and inspecting the stream and its one durable consumer.

The stream (``ANALYTICS_EVENTS`` on ``analytics.events.>`` and
``analytics.deadletters.>``) is a *buffer* between producers and the database, not an
archive:

* **Retention: work queue.** A message is deleted once an ingest replica acknowledges
  it (after its rows are committed), so the stream holds exactly the backlog and its
  disk use is the backlog's size.
* **Limits: max age (7 days) and max bytes (10 GiB), discard new.** When the backlog
  reaches ``max_bytes`` the server *refuses* new publishes rather than deleting
  unwritten events: producers see the error and retry, then spool (their usual outage
  path), so a full stream pushes back instead of losing data silently. Max age is the
  one way the server drops events (a backlog unread for a week).
* **Replicas:** 1 on a single server, 3 on a cluster (R3 tolerates one node down; its
  acknowledgement means a quorum stored the message). **Storage:** file.
* **Duplicate window:** 2 minutes, the horizon of producer-side de-duplication.

The consumer is a durable pull consumer with explicit acks, ``ack_wait`` (redelivery of
whatever a crashed replica held) and a bounded ``max_ack_pending``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from nats.js import api
from nats.js.errors import NotFoundError

from .._errors import BusError
from ..ingest.sinks.nats_config import BusConfig
from ..ingest.sinks.nats_connect import connect

if TYPE_CHECKING:
    from nats.aio.client import Client as NATS
    from nats.js import JetStreamContext

__all__ = [
    "BusStatus",
    "bus_status",
    "consumer_config",
    "ensure_consumer",
    "ensure_stream",
    "setup_bus",
    "stream_config",
]


@dataclass(frozen=True, slots=True)
class BusStatus:
    """Stream and consumer state, as ``analytics-bus status`` prints it."""

    stream: str
    replicas: int
    messages: int
    """Messages in the stream: with work-queue retention, the unacknowledged backlog."""
    bytes: int
    first_seq: int
    last_seq: int
    cluster_leader: str | None
    replicas_current: int
    """Replicas (besides the leader) that are current; R3 with one node down shows 1."""
    consumer: str | None
    pending: int
    """Messages the consumer has not delivered yet (the lag)."""
    ack_pending: int
    """Messages delivered to a replica and not yet acknowledged (in flight)."""
    redelivered: int
    """Messages currently pending redelivery after an ack_wait expiry or a nak."""
    waiting_fetches: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def stream_config(bus: BusConfig, replicas: int) -> Any:
    """The stream's configuration (a ``nats.js.api.StreamConfig``)."""
    return api.StreamConfig(
        name=bus.stream,
        description="lib-analytics-core: batches of analytics events awaiting analytics-ingest",
        subjects=bus.stream_subjects,
        retention=api.RetentionPolicy.WORK_QUEUE,
        max_bytes=bus.max_bytes,
        max_age=bus.max_age_secs,
        discard=api.DiscardPolicy.NEW,
        storage=api.StorageType.FILE,
        num_replicas=replicas,
        duplicate_window=bus.duplicate_window_secs,
    )


def consumer_config(bus: BusConfig) -> Any:
    """The durable pull consumer's configuration (a ``nats.js.api.ConsumerConfig``)."""
    return api.ConsumerConfig(
        durable_name=bus.durable,
        description="analytics-ingest replicas: write to PostgreSQL, ack after commit",
        ack_policy=api.AckPolicy.EXPLICIT,
        deliver_policy=api.DeliverPolicy.ALL,
        ack_wait=bus.ack_wait_secs,
        max_ack_pending=bus.max_ack_pending,
        max_deliver=-1,
        max_waiting=512,
    )


def _replicas(bus: BusConfig, nc: NATS) -> int:
    if bus.replicas is not None:
        return bus.replicas
    # The client learns the cluster's other members from the server it connects to.
    return 3 if len(nc.servers) >= 3 else 1


async def ensure_stream(nc: NATS, bus: BusConfig) -> Any:
    """Create the stream, or update it to ``bus``'s settings; returns its info."""
    js: JetStreamContext = nc.jetstream()
    config = stream_config(bus, _replicas(bus, nc))
    try:
        await js.stream_info(bus.stream)
    except NotFoundError:
        return await js.add_stream(config)
    return await js.update_stream(config)


async def ensure_consumer(nc: NATS, bus: BusConfig) -> Any:
    """Create the durable consumer, or update its editable settings; returns its info."""
    js: JetStreamContext = nc.jetstream()
    return await js.add_consumer(bus.stream, consumer_config(bus))


async def setup_bus(bus: BusConfig) -> BusStatus:
    """``analytics-bus setup``: the stream and the consumer, created or updated."""
    nc = await connect(bus, name="analytics-bus")
    try:
        try:
            await ensure_stream(nc, bus)
            await ensure_consumer(nc, bus)
        except Exception as err:
            raise BusError(f"setting up stream {bus.stream}: {type(err).__name__}: {err}") from err
        return await _status(nc, bus)
    finally:
        await nc.close()


async def bus_status(bus: BusConfig) -> BusStatus:
    """``analytics-bus status``: :class:`BusStatus`, or :class:`BusError` if no stream."""
    nc = await connect(bus, name="analytics-bus")
    try:
        return await _status(nc, bus)
    finally:
        await nc.close()


async def _status(nc: NATS, bus: BusConfig) -> BusStatus:
    js: JetStreamContext = nc.jetstream()
    try:
        info = await js.stream_info(bus.stream)
    except NotFoundError as err:
        raise BusError(f"stream {bus.stream} does not exist: run `analytics-bus setup`") from err
    try:
        cinfo: Any = await js.consumer_info(bus.stream, bus.durable)
    except NotFoundError:
        cinfo = None
    cluster = info.cluster
    return BusStatus(
        stream=bus.stream,
        replicas=info.config.num_replicas or 1,
        messages=info.state.messages,
        bytes=info.state.bytes,
        first_seq=info.state.first_seq,
        last_seq=info.state.last_seq,
        cluster_leader=cluster.leader if cluster else None,
        replicas_current=sum(1 for p in (cluster.replicas or []) if p.current) if cluster else 0,
        consumer=bus.durable if cinfo is not None else None,
        pending=(cinfo.num_pending or 0) if cinfo else 0,
        ack_pending=(cinfo.num_ack_pending or 0) if cinfo else 0,
        redelivered=(cinfo.num_redelivered or 0) if cinfo else 0,
        waiting_fetches=(cinfo.num_waiting or 0) if cinfo else 0,
    )
