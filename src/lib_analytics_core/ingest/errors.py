"""What a failed write means for the rows: the writers' reading of the one classification.

The classification itself lives in ``lib_analytics_core._dberrors`` (one table for
every layer: writers, the read side, the HTTP servers). This module keeps the names the
sinks and the ingest service use, each a one-line derivation of it:

* :func:`is_transient` — retry the same rows later (``ErrorKind.retry``): the medium is
  unavailable or busy *now* (connection errors and timeouts, ``BusError``, a server
  going away or overloaded, a lock or serialization failure, a statement timeout), or
  the deployment is not ready *for any row* (not migrated, no such database, a missing
  privilege): a deploy fixes those, and retrying keeps the rows (spooled, or in the
  stream) instead of dead-lettering every event until it has run. :func:`not_ready_hint`
  says so in words.
* refused — *anything else*, whatever its SQLSTATE or exception class (a data
  exception, a constraint, ``54001`` statement too complex, an ``XX`` internal error,
  an exception nobody listed): a sink isolates the rows responsible (bisection) and
  dead-letters only them. A row that is not at fault is stored on its own, so refusing
  too eagerly costs a bisection, never a row.
* :func:`is_duplicate` — neither: "already stored" (COPY met rows of an earlier
  attempt), and the sink falls back to its idempotent path.
"""

from __future__ import annotations

from .._dberrors import classify, describe, hint
from .._errors import ErrorKind

__all__ = ["describe", "is_duplicate", "is_transient", "not_ready_hint"]


def is_duplicate(err: BaseException) -> bool:
    """A unique violation: the rows (some of them) are stored already."""
    return classify(err) is ErrorKind.DUPLICATE


def is_transient(err: BaseException) -> bool:
    """True: retry the same rows later. False: the rows are refused (bisect them)."""
    return classify(err).retry


def not_ready_hint(err: BaseException) -> str | None:
    """An operator's explanation when ``err`` means the deployment is not ready (not
    migrated, no such database, a missing privilege), else None."""
    return hint(err)
