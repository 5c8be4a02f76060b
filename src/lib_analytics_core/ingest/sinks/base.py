"""The sink protocol: the seam between the delivery policy and the medium.

Contract every sink keeps, because the policy above it relies on it:

* ``deliver`` either returns (the rows are durably stored or acknowledged, minus the
  ones it names as refused) or raises. An exception means "outcome unknown": the policy
  retries the same rows later with ``redelivery=True``, so a sink must make a redelivery
  idempotent (PostgreSQL: ``ON CONFLICT DO NOTHING`` on ``("timestamp", event_id)``;
  NATS: a JetStream message id derived from the rows, inside the duplicate window).
* A row refused for its *value* (the database cannot store it) is returned in
  ``SinkOutcome.refused`` with the reason, never raised: the rest of the batch is stored
  and the policy dead-letters the refused rows through ``dead_letter``.
* ``timeout`` is the whole call's budget in seconds; the policy clips it to shutdown's
  deadline. A sink never sleeps or retries on its own.
* No method may block the event loop: file or CPU-heavy work goes to a thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ..encoding import Rejected, Row

__all__ = ["Sink", "SinkOutcome"]


@dataclass(frozen=True, slots=True)
class SinkOutcome:
    """What one ``deliver`` achieved."""

    delivered: int
    """Rows now stored/acknowledged (rows already present from an earlier attempt count)."""
    refused: list[Rejected] = field(default_factory=list)
    """Rows refused for their value, each with the reason; to be dead-lettered."""


class Sink(Protocol):
    """A medium the worker delivers encoded rows to."""

    #: Short name used in logs and stats ("postgres", "nats").
    name: str

    async def open(self) -> None:
        """Prepare connections; may raise a transient error (the policy retries)."""

    async def deliver(
        self,
        rows: Sequence[Row],
        *,
        redelivery: bool,
        timeout: float,  # noqa: ASYNC109 - a budget the policy computes, passed to the driver
    ) -> SinkOutcome:
        """Deliver ``rows`` in order, as one unit where the medium allows."""

    async def dead_letter(
        self,
        refused: Sequence[Rejected],
        *,
        timeout: float,  # noqa: ASYNC109 - as above
    ) -> None:
        """Keep refused rows somewhere inspectable (e.g. ``analytics_dead_letters``)."""

    async def close(self) -> None:
        """Release connections; must not raise and must return promptly."""
