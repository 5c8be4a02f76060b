#!/usr/bin/env python3
"""Developer entry points that work on a fresh machine with nothing but Python >= 3.11.

    python3 tasks.py demo [demo options]   # the main job: analytics-demo on an embedded PostgreSQL
    python3 tasks.py test [pytest options] # the whole test suite (prints `doctor` first)
    python3 tasks.py bench [--quick]       # the benchmark suite
    python3 tasks.py lint                  # ruff + mypy --strict + import-linter
    python3 tasks.py doctor                # which optional test components are present

Each command creates ``.venv`` on first use and installs the project with the pinned
versions from ``constraints.txt`` (so CI and every developer run the same versions),
then runs inside it. Only the standard library is used here, on purpose.

SIGTERM and SIGHUP sent to this wrapper are passed on to the command it runs (which
stops cleanly), so ``kill`` or ``timeout`` on ``tasks.py`` leaves nothing running.
SIGINT is passed on too, except when it came from the terminal's Ctrl+C, which the
command already received itself (twice would cut its cleanup short).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import venv
from collections.abc import Callable
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
STAMP = VENV / ".lac-installed"

EXTRAS = {"demo": "demo", "test": "dev", "bench": "dev,bench", "lint": "dev"}
#: Extras that include others (pyproject.toml): an environment installed with "dev" can
#: run the demo without installing again.
INCLUDES = {"dev": {"demo", "embedded", "api", "prometheus"}, "demo": {"embedded", "api"}}
FORWARDED = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP", "SIGINT") if hasattr(signal, name)
)


def _from_terminal(signum: int) -> bool:
    """True for a Ctrl+C the child got from the terminal as well (same foreground group)."""
    if signum != signal.SIGINT:
        return False
    try:
        return os.isatty(0) and os.tcgetpgrp(0) == os.getpgrp()
    except OSError:
        return False


def _run(cmd: list[str]) -> int:
    """Run ``cmd`` in ROOT, passing stop signals on to it; its exit code (128+N if killed)."""
    child = subprocess.Popen(cmd, cwd=ROOT)  # noqa: S603 - our own commands
    previous: dict[int, Callable[[int, FrameType | None], object] | int | None] = {}

    def forward(signum: int, frame: FrameType | None) -> None:
        if child.poll() is None and not _from_terminal(signum):
            child.send_signal(signum)

    for sig in FORWARDED:
        previous[sig] = signal.signal(sig, forward)
    try:
        code = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 128 - code if code < 0 else code


def _installed() -> set[str]:
    if not STAMP.exists():
        return set()
    digest = hashlib.sha256(
        (ROOT / "pyproject.toml").read_bytes() + (ROOT / "constraints.txt").read_bytes()
    ).hexdigest()[:16]
    have: set[str] = set()
    for entry in STAMP.read_text().split():
        extras, _, stamp_digest = entry.rpartition(":")
        if stamp_digest == digest:
            for extra in extras.split(","):
                have |= {extra, *INCLUDES.get(extra, ())}
    return have


def _ensure_env(extras: str) -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"lib-analytics-core needs Python >= 3.11 (this is {sys.version.split()[0]})")
    if not PY.exists():
        print(f"creating virtual environment in {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    if set(extras.split(",")) <= _installed():
        return
    digest = hashlib.sha256(
        (ROOT / "pyproject.toml").read_bytes() + (ROOT / "constraints.txt").read_bytes()
    ).hexdigest()[:16]
    have = STAMP.read_text().split() if STAMP.exists() else []
    print(f"installing lib-analytics-core[{extras}] (pinned by constraints.txt) ...", flush=True)
    pip = [str(PY), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    if _run([*pip, "--upgrade", "pip"]) != 0:
        sys.exit("pip upgrade failed")
    if _run([*pip, "-c", "constraints.txt", "-e", f".[{extras}]"]) != 0:
        sys.exit("installing the project failed (see pip's output above)")
    STAMP.write_text(" ".join([*have, f"{extras}:{digest}"]))


# --------------------------------------------------------------------------- doctor


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _doctor_lines() -> list[tuple[bool, str, str]]:
    """(present, what it is for, how to get it) for each optional component."""
    node = shutil.which("node") is not None and shutil.which("npm") is not None
    chromium = shutil.which("chromium") is not None or Path("/usr/bin/chromium").exists()
    given = os.environ.get("TEST_DATABASE_URL")
    local_pg = _port_open("127.0.0.1", 5432)
    nats = shutil.which("nats-server") is not None or _port_open("127.0.0.1", 4222)
    if given:
        pg = "PostgreSQL: the server TEST_DATABASE_URL names"
    elif local_pg:
        pg = (
            "PostgreSQL: the embedded one (faster: a server answers on 127.0.0.1:5432, "
            "use it with TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres)"
        )
    else:
        pg = "PostgreSQL: the embedded one, started by the suite"
    return [
        (True, f"Python {sys.version.split()[0]} (>= 3.11 required)", ""),
        (True, pg, ""),
        (
            node,
            "Node.js + npm: the TimescaleDB test tier (tests marked `timescale`)",
            "apt-get install -y nodejs npm (Node >= 20); the suite runs `npm ci` itself",
        ),
        (
            chromium,
            "Chromium: the dashboard browser test",
            "apt-get install -y chromium",
        ),
        (
            shutil.which("pgbouncer") is not None or Path("/usr/sbin/pgbouncer").exists(),
            "PgBouncer: the connection-path tests (transaction pool mode, started by the tests)",
            "apt-get install -y pgbouncer",
        ),
        (
            nats,
            "NATS server (JetStream): the message-bus transport tests",
            "apt-get install -y nats-server; run `nats-server -js` on 127.0.0.1:4222",
        ),
    ]


def doctor() -> int:
    """Print what is present; 1 when an optional component is missing (a partial run)."""
    lines = _doctor_lines()
    print("lib-analytics-core doctor: optional components of the test suite")
    for present, what, how in lines:
        mark = "ok     " if present else "MISSING"
        print(f"  {mark} {what}" + (f"\n          -> {how}" if how and not present else ""))
    missing = sum(1 for present, _, _ in lines if not present)
    if missing:
        print(
            f"  {missing} missing: the tests needing them are SKIPPED locally (CI=true "
            "makes them fail), so a local run is partial."
        )
    else:
        print("  everything present: a local run covers the whole suite.")
    return 1 if missing else 0


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("-h", "--help", "help"):
        print(__doc__)
        return 0
    if argv and argv[0] == "doctor":
        return doctor()
    if not argv or argv[0] not in EXTRAS:
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    _ensure_env(EXTRAS[command])
    if command == "demo":
        return _run([str(BIN / "analytics-demo"), *rest])
    if command == "test":
        doctor()
        print(flush=True)
        return _run([str(PY), "-m", "pytest", *rest])
    if command == "bench":
        return _run([str(PY), "benchmarks/run.py", *rest])
    if _run([str(PY), "-m", "ruff", "check", "src", "tests", "benchmarks"]) != 0:
        return 1
    if _run([str(PY), "-m", "ruff", "format", "--check", "src", "tests", "benchmarks"]) != 0:
        return 1
    if _run([str(PY), "-m", "mypy"]) != 0:
        return 1
    # The layers' import rules (pyproject.toml's [tool.importlinter] contracts).
    return _run([str(BIN / "lint-imports")])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
