"""The sink protocol: the seam between the delivery policy and the medium.

A sink only *delivers*. Batching, encoding, retry, backoff, the circuit, the spool,
the shutdown deadline and the counters are the policy's (``ingest.delivery``), written
once for every sink — OpenTelemetry's processor/exporter split, sentry-python's
worker/transport split.

How to write a sink (e.g. an ``HttpSink`` posting rows to a collector)
----------------------------------------------------------------------

1. A class with a ``name`` (short, for logs: ``"http"``) and the four async methods
   below. No base class to inherit; :class:`Sink` is a ``typing.Protocol``.
2. ``open()`` prepares connections (an ``httpx.AsyncClient``); it may raise (the policy
   counts the failure and retries); it may be called again after a failure, and
   ``deliver`` may be called without it (open lazily there).
3. ``deliver(rows, *, redelivery, timeout)`` sends :data:`~..rows.Row` tuples (column
   order :data:`~..rows.COLUMNS`; encode them with :func:`~..rows.encode_rows` if the
   medium wants bytes) and **returns only when the medium has stored or acknowledged
   them**. Return ``SinkOutcome(delivered=n, refused=[...])``:

   * a row the medium refuses *for its value* (an HTTP 400/413/422 naming it, a
     database refusal) goes in ``refused`` as a :class:`~..rows.Rejected` with the
     reason; never raise for it, or the whole batch is retried for ever. If the medium
     refuses a batch without saying which row, split it (bisect) and resend the
     halves, as ``PostgresSink`` does;
   * anything else — connection refused, a 5xx, a 429, a timeout — is **raised**. A
     raise means "outcome unknown": the policy retries the same rows later with
     ``redelivery=True``, so the medium must make a redelivery idempotent (PostgreSQL:
     ``ON CONFLICT DO NOTHING`` on ``("timestamp", event_id)``; NATS: a message id
     derived from the rows; HTTP: send the event ids and let the collector drop ones it
     has stored). Use :func:`~..errors.is_transient` if the sink must tell a transient
     failure from a refusal itself.
4. ``timeout`` is the **whole call's** budget in seconds (connect, send, wait for the
   answer, any splitting): take a deadline at the start and give each step what is left
   (``httpx.Timeout`` per request is not enough when a call makes several requests). The
   policy clips it to shutdown's deadline and cancels the call if it overruns, so a
   sink must also be cancellation-safe (release what it holds in ``finally``).
5. ``dead_letter(refused, *, timeout)`` keeps refused rows somewhere inspectable (the
   collector's dead-letter endpoint, ``analytics_dead_letters``). Make each
   :class:`~..rows.Rejected` storable with :func:`~..rows.storable` first. Raising is
   allowed: dead letters have their own short retry, then stay in memory
   (``recent_rejections()``); a failure here never counts as an outage.
6. ``close()`` releases connections, returns promptly (bound every wait) and never
   raises.
7. Never sleep, retry, spool or count inside a sink, and never block the event loop:
   CPU-heavy work (encoding a large batch) yields with ``await asyncio.sleep(0)``
   between chunks; file I/O goes to a thread.
8. Plug it in with ``AnalyticsWorker(cfg, sink=YourSink(...))`` or by teaching
   :func:`~.make_sink` a new ``transport`` scheme; test it with the policy's own fault
   tests (``tests/_inject.py``: ``FaultySink`` wraps any sink).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ..rows import Rejected, Row

__all__ = ["Sink", "SinkOutcome"]


@dataclass(frozen=True, slots=True)
class SinkOutcome:
    """What one ``deliver`` achieved."""

    delivered: int
    """Rows now stored/acknowledged (rows already present from an earlier attempt count)."""
    refused: list[Rejected] = field(default_factory=list)
    """Rows refused for their value, each with the reason; to be dead-lettered."""
    inserted: int | None = None
    """Rows this call newly stored (``delivered`` less those already there from an
    earlier attempt); None when the medium cannot tell. What "rows written" counts."""


class Sink(Protocol):
    """A medium the worker delivers encoded rows to (see the module docstring)."""

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
    ) -> int | None:
        """Keep refused rows somewhere inspectable (e.g. ``analytics_dead_letters``);
        return how many were newly kept (a redelivered refusal is kept once), or None
        when the medium cannot tell."""

    async def close(self) -> None:
        """Release connections; must not raise and must return promptly."""
