"""Finding the processes a test (or the whole session) started, by an inherited marker.

Every process inherits its parent's environment, and PostgreSQL's postmaster keeps it
even after ``pg_ctl`` has detached it from us. So a unique variable set before starting
something finds everything that something started, however daemonised, and nothing that
other users of the machine started (six test runs may share it).
"""

from __future__ import annotations

import os
import time

import psutil  # type: ignore[import-untyped]  # no stubs pinned; used in tests only

__all__ = ["SESSION_MARKER", "describe", "marked", "wait_until_gone"]

#: Set by conftest for the whole test session; inherited by all it starts.
SESSION_MARKER = "LAC_TEST_SESSION"


def marked(variable: str, value: str) -> list[psutil.Process]:
    """Live processes (not zombies, not this one) whose environment has variable=value."""
    found = []
    for proc in psutil.process_iter():
        if proc.pid == os.getpid():
            continue
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            if proc.environ().get(variable) == value:
                found.append(proc)
        except (psutil.Error, OSError):
            continue  # gone, or not ours to read
    return found


def wait_until_gone(variable: str, value: str, grace: float = 5.0) -> list[psutil.Process]:
    """The marked processes still alive after up to ``grace`` seconds (exits take a moment)."""
    deadline = time.monotonic() + grace
    while True:
        left = marked(variable, value)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def describe(procs: list[psutil.Process]) -> str:
    out = []
    for proc in procs:
        try:
            out.append(f"{proc.pid} {' '.join(proc.cmdline())[:160]}")
        except psutil.Error:
            out.append(f"{proc.pid} (gone)")
    return "; ".join(out)
