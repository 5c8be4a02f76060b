"""Counters the worker keeps, and the immutable snapshot ``stats()`` returns."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["WorkerStats"]


@dataclass(frozen=True, slots=True)
class WorkerStats:
    """A consistent-enough snapshot of the pipeline's counters.

    Every event ``track()`` accepted ends up in exactly one of: ``written``,
    ``rejected`` (dead-lettered), ``spooled`` (on disk, awaiting replay), ``lost``
    (shutdown ran out of time with no spool), ``sampled_out``/``hook_dropped`` (by
    configuration), or is still in ``queue_depth``/``in_flight``. ``dropped`` counts
    events ``track()`` refused because the queue was full.
    """

    tracked: int
    written: int
    dropped: int
    retried: int
    rejected: int
    spooled: int
    replayed: int
    lost: int
    sampled_out: int
    hook_dropped: int
    batches: int
    queue_depth: int
    in_flight: int
    last_error: str | None
    last_error_at: float | None
    """Unix time of the last write error."""

    def as_dict(self) -> dict[str, int | float | str | None]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}
