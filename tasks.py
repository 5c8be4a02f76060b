#!/usr/bin/env python3
"""Developer entry points that work on a fresh machine with nothing but Python >= 3.11.

    python3 tasks.py demo [demo options]   # the main job: analytics-demo on an embedded PostgreSQL
    python3 tasks.py test [pytest options] # the whole test suite
    python3 tasks.py bench [--quick]       # the benchmark suite
    python3 tasks.py lint                  # ruff + mypy --strict

Each command creates ``.venv`` on first use and installs the project with the pinned
versions from ``constraints.txt`` (so CI and every developer run the same versions),
then runs inside it. Only the standard library is used here, on purpose.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
STAMP = VENV / ".lac-installed"

EXTRAS = {"demo": "demo", "test": "dev", "bench": "dev,bench", "lint": "dev"}


def _run(cmd: list[str], **kwargs: object) -> int:
    return subprocess.call(cmd, cwd=ROOT, **kwargs)  # type: ignore[call-overload]  # noqa: S603


def _ensure_env(extras: str) -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"lib-analytics-core needs Python >= 3.11 (this is {sys.version.split()[0]})")
    if not PY.exists():
        print(f"creating virtual environment in {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    digest = hashlib.sha256(
        (ROOT / "pyproject.toml").read_bytes() + (ROOT / "constraints.txt").read_bytes()
    ).hexdigest()[:16]
    wanted = f"{extras}:{digest}"
    have = STAMP.read_text().split() if STAMP.exists() else []
    if wanted in have:
        return
    print(f"installing lib-analytics-core[{extras}] (pinned by constraints.txt) ...", flush=True)
    pip = [str(PY), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    if _run([*pip, "--upgrade", "pip"]) != 0:
        sys.exit("pip upgrade failed")
    if _run([*pip, "-c", "constraints.txt", "-e", f".[{extras}]"]) != 0:
        sys.exit("installing the project failed (see pip's output above)")
    STAMP.write_text(" ".join([*have, wanted]))


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in EXTRAS:
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    _ensure_env(EXTRAS[command])
    if command == "demo":
        return _run([str(BIN / "analytics-demo"), *rest])
    if command == "test":
        return _run([str(PY), "-m", "pytest", *rest])
    if command == "bench":
        return _run([str(PY), "benchmarks/run.py", *rest])
    if _run([str(PY), "-m", "ruff", "check", "src", "tests", "benchmarks"]) != 0:
        return 1
    if _run([str(PY), "-m", "ruff", "format", "--check", "src", "tests", "benchmarks"]) != 0:
        return 1
    return _run([str(PY), "-m", "mypy"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
