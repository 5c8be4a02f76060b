"""Multiwindow, multi-burn-rate SLO alerts: the SRE workbook's table, and the decision.

The workbook ("Alerting on SLOs", table 5-8) pairs a long window, which says the burn is
significant (a share of the whole budget is gone), with a short one, which says it is
still happening (so the alert resolves minutes after a fix, not hours):

=========  ==========  ============  ============  ==================================
severity   burn rate   long window   short window  budget spent when it fires (30 d)
=========  ==========  ============  ============  ==================================
page       14.4x       1 h           5 min         2 %
page       6x          6 h           30 min        5 %
ticket     1x          3 d           6 h           10 %
=========  ==========  ============  ============  ==================================

burn rate = bad ratio / (1 - objective): 1x spends the budget exactly over the SLO
window. A pair fires when **both** its windows burn faster than its rate (strictly, as
the workbook's ``>``); the alert's severity is the highest of the firing pairs, and it
resolves (or downgrades) when the short windows fall back. Comparisons are exact
(fractions of the integer counts), so a burn of exactly 14.4x never flickers on a float.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Final

from .rules import Severity

__all__ = [
    "WINDOWS",
    "WORKBOOK",
    "BurnPair",
    "Counts",
    "burn_rate",
    "decide",
    "window_label",
]


@dataclass(frozen=True, slots=True)
class BurnPair:
    """One row of the table: fires when both windows burn faster than ``rate``."""

    severity: Severity
    rate: float
    long: _dt.timedelta
    short: _dt.timedelta


_M = _dt.timedelta(minutes=1)
WORKBOOK: Final = (
    BurnPair("page", 14.4, 60 * _M, 5 * _M),
    BurnPair("page", 6.0, 360 * _M, 30 * _M),
    BurnPair("ticket", 1.0, 3 * 1440 * _M, 360 * _M),
)
#: Every window the table uses, shortest first.
WINDOWS: Final = tuple(sorted({w for p in WORKBOOK for w in (p.long, p.short)}))


@dataclass(frozen=True, slots=True)
class Counts:
    """Requests and bad requests in one window."""

    total: int
    bad: int


def window_label(w: _dt.timedelta) -> str:
    """``"5m"``, ``"1h"``, ``"3d"``: how windows are named in JSON and messages."""
    s = int(w.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s % size == 0:
            return f"{s // size}{unit}"
    return f"{s}s"


def burn_rate(c: Counts, objective: float) -> float:
    """bad ratio / (1 - objective); 0 for a window without requests (nothing burned)."""
    if c.total <= 0:
        return 0.0
    return float(Fraction(c.bad, c.total) / (1 - Fraction(str(objective))))


def _burns_faster(c: Counts, objective: float, rate: float) -> bool:
    if c.total <= 0:
        return False
    return Fraction(c.bad, c.total) > Fraction(str(rate)) * (1 - Fraction(str(objective)))


def decide(
    counts: Mapping[_dt.timedelta, Counts], objective: float
) -> tuple[Severity | None, BurnPair | None]:
    """The alert's severity as of these window counts (None: nothing fires), and the
    pair that decided it (the first firing one in table order)."""
    for pair in WORKBOOK:
        if _burns_faster(counts[pair.long], objective, pair.rate) and _burns_faster(
            counts[pair.short], objective, pair.rate
        ):
            return pair.severity, pair
    return None, None
