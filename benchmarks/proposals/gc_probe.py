"""Evidence for proposal P3: queued GC-tracked events slow track() under thread contention.

8 threads append ``(time_ns(), event)`` 100,000 times each to a deque (what ``track()``
does) while a drainer empties it every millisecond (what the worker does). Default msgspec
structs vs ``gc=False`` structs of the same shape. Run: ``python benchmarks/proposals/gc_probe.py``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from itertools import repeat
from typing import Any

import msgspec


class Tracked(msgspec.Struct, frozen=True, kw_only=True):
    service: str
    method: str
    endpoint: str
    status_code: int
    duration_ms: int
    user_id: uuid.UUID | None = None


class Untracked(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    service: str
    method: str
    endpoint: str
    status_code: int
    duration_ms: int
    user_id: uuid.UUID | None = None


def probe(cls: type[Any], threads: int = 8, calls: int = 100_000) -> float:
    ev = cls(
        service="s",
        method="GET",
        endpoint="/x",
        status_code=200,
        duration_ms=3,
        user_id=uuid.uuid4(),
    )
    items: deque[tuple[int, Any]] = deque()
    tn = time.time_ns

    def loop() -> None:
        ap = items.append
        for _ in repeat(None, calls):
            ap((tn(), ev))

    done = threading.Event()

    def drainer() -> None:
        while not done.wait(0.001):
            pl = items.popleft
            for _ in range(len(items)):
                pl()

    workers = [threading.Thread(target=loop) for _ in range(threads)]
    d = threading.Thread(target=drainer)
    d.start()
    t0 = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - t0
    done.set()
    d.join()
    return elapsed / (threads * calls) * 1e9


if __name__ == "__main__":
    for cls in (Tracked, Untracked, Tracked, Untracked):
        print(f"{cls.__name__:9s} {probe(cls):6.0f} ns per append (8 threads, wall)")
