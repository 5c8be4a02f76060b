"""What ``AnalyticsClient.new`` hands to the worker: the seed's ``worker_config``."""

from __future__ import annotations

from dataclasses import dataclass

from .._config import AnalyticsConfig
from .channel import EventChannel

__all__ = ["WorkerConfig"]


@dataclass(frozen=True)
class WorkerConfig:
    """The receiving end of a client's queue together with the settings it was built with.

    Pass it to ``AnalyticsWorker(cfg, pool)``. One worker per client: two workers on one
    channel would compete for events (harmless, but pointless).
    """

    settings: AnalyticsConfig
    channel: EventChannel
