"""Time ranges as the refresh code handles them: half-open ``[lo, hi)`` pairs.

One home for merging them, used by the daily refresh (``maintenance``) and the weekly
one (``maintenance_weekly``), so the two cannot disagree on what overlaps."""

from __future__ import annotations

import datetime as dt

__all__ = ["merge_ranges"]


def merge_ranges(
    ranges: list[tuple[dt.datetime, dt.datetime]],
) -> list[tuple[dt.datetime, dt.datetime]]:
    """``ranges`` sorted, with overlapping or touching ranges joined into one."""
    merged: list[tuple[dt.datetime, dt.datetime]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged
