"""The one assembly of the write path: spool, sink, delivery policy and row encoder.

Everything that writes events builds them here, from one :class:`AnalyticsConfig`:

* the worker behind ``track()`` (``worker.py``), which batches a channel into it;
* the HTTP collector (``collect/delivery.py``), which group-commits requests' rows
  through the same sink, spools to the same fsync'd spool and replays it with the same
  policy;
* the bus consumer (``bus/ingest.py``), whose attempts, failure accounting, backoff
  and dead letters are the same policy's (JetStream redelivery is its retry).

So the choice of sink (``make_sink``: PostgreSQL, NATS or HTTP), whether there is a
spool, the policy's backoff and dead-letter handling and the encoding of ``data`` are
decided in one place; a new way in is a new caller of :func:`build_pipeline`, not a
fourth copy of this wiring. ``collect`` and ``bus`` reach ingest's delivery internals
(``delivery``, ``spool``, ``spool_io``, ``sinks.postgres``, ``worker``) only through this
module: an import-linter contract in ``pyproject.toml`` checks it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .._config import AnalyticsConfig
from .clock import Clock, LoopClock
from .delivery import Backoff, DeliveryPolicy
from .encoding import RowEncoder
from .sinks import Sink, make_sink
from .sinks.pg_codecs import fast_row_codecs
from .spool import Spool
from .spool_io import AsyncSpool
from .stats import Counters

__all__ = [
    "Backoff",
    "DeliveryPolicy",
    "Pipeline",
    "build_pipeline",
    "fast_row_codecs",
    "open_spool",
]


@dataclass(frozen=True, slots=True)
class Pipeline:
    """The parts one writer runs: they share ``counters`` (the one set of row counters
    that ``stats()`` reports) and ``policy`` wraps ``sink`` and ``spool``."""

    settings: AnalyticsConfig
    sink: Sink
    spool: AsyncSpool | None
    counters: Counters
    policy: DeliveryPolicy
    encoder: RowEncoder


def open_spool(settings: AnalyticsConfig) -> AsyncSpool | None:
    """The fsync'd disk spool ``settings.spool_dir`` names, or None without one."""
    if settings.spool_dir is None:
        return None
    return AsyncSpool(Spool(settings.spool_dir, max_bytes=settings.spool_max_bytes))


def build_pipeline(
    settings: AnalyticsConfig,
    pool: Any = None,
    *,
    sink: Sink | None = None,
    clock: Clock | None = None,
    spool: bool = True,
    **overrides: Any,
) -> Pipeline:
    """Spool + sink + delivery policy + encoder for ``settings``.

    ``pool`` is what :func:`~.sinks.make_sink` takes (an asyncpg pool, a DSN or an async
    pool factory) for the sink ``settings.transport`` names; ``sink`` replaces it (tests,
    or a caller that owns its sink). ``spool=False`` builds no spool whatever
    ``spool_dir`` says (the bus consumer: the stream is its buffer). ``overrides``
    replace fields of ``settings`` first (e.g. a shorter ``write_timeout_secs``).
    """
    if overrides:
        settings = dataclasses.replace(settings, **overrides)
    disk = open_spool(settings) if spool else None
    out = sink if sink is not None else make_sink(settings, pool)
    counters = Counters()
    policy = DeliveryPolicy(settings, out, disk, counters, clock or LoopClock())
    return Pipeline(settings, out, disk, counters, policy, RowEncoder(settings))
