"""The schema as SQL: plain migration files, stable checksums, the current schema per tier.

* every migration is plain SQL, read verbatim (no template markers, no placeholders,
  no Python module feeding its text or checksum);
* the checksums of 0001-0005 are the ones databases already migrated recorded (pinned
  here: a database migrated by any earlier release keeps passing the checksum check);
* ``schema/current_<tier>.sql`` is exactly what migrating an empty database leaves
  (a normalised catalog dump, tests/_schema_catalog.py), on plain PostgreSQL for the
  partitioned tier and on TimescaleDB (PGlite, or ``$TEST_TIMESCALE_URL``) for the
  timescale tier.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import importlib.util
import re
from pathlib import Path

import asyncpg
import pytest

from lib_analytics_core import migrate
from lib_analytics_core.schema import migrate as m
from lib_analytics_core.schema.server import SchemaTier
from tests._schema_catalog import CURRENT_FILES, dump_schema

MIGRATIONS = Path(str(importlib.resources.files("lib_analytics_core.schema") / "migrations"))

# What analytics_schema_migrations.checksum holds for these versions on every database
# migrated by a release that shipped them (computed by those releases' runner).
SHIPPED_CHECKSUMS = {
    1: "a39347e40b05efaa66be0de48d0952b5799f66497eb3ecdd6fe3ee2880202d73",
    2: "687c4e7c10d8b4c8207e1fab50c25f70bd0d87b041ae7d092f9229321cb7edf2",
    3: "8a03ec3abf2a341ca7c68410e1d506cef954f56c84ab7640f2493b90e6eb6ed8",
    4: "2606be413b95989067446ef6d9f4d62a866d8d91f6d3c949555e8f34979548ea",
    5: "62dd108a00235c8772120455cc84699855cc1dfeee8a0a21506ae5efff322a1d",
}
_TEMPLATE = re.compile(r"^--\s*@(tier|aggregate|end)\b|\{\{", re.MULTILINE)
_NAME = re.compile(r"^(\d{4})_(pre|post)_[a-z0-9_]+?(\.timescale|\.partitioned)?\.sql$")


def test_checksums_of_shipped_migrations_are_unchanged() -> None:
    got = {x.version: x.checksum for x in m.load_migrations() if x.version in SHIPPED_CHECKSUMS}
    assert got == SHIPPED_CHECKSUMS


def test_migration_files_are_plain_sql_named_by_convention() -> None:
    files = sorted(p.name for p in MIGRATIONS.glob("*.sql"))
    assert files, MIGRATIONS
    for name in files:
        assert _NAME.match(name), f"{name} does not follow NNNN_pre|post_name[.tier].sql"
        text = (MIGRATIONS / name).read_text(encoding="utf-8")
        code = "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("--"))
        assert not _TEMPLATE.search(code), f"{name} has template syntax"
        assert not re.search(r"^--\s*@(tier|aggregate|end)\b", text, re.M), name
    # Each version is one shared file or exactly the two tier files.
    by_version: dict[str, set[str]] = {}
    for name in files:
        match = _NAME.match(name)
        assert match is not None
        by_version.setdefault(match.group(1), set()).add(match.group(3) or "")
    for version, kinds in by_version.items():
        assert kinds in ({""}, {".timescale", ".partitioned"}), (version, kinds)


def test_each_migration_runs_its_files_verbatim_and_hashes_them() -> None:
    for mig in m.load_migrations():
        texts = [(MIGRATIONS / f).read_bytes().decode("utf-8") for f in mig.files]
        ts, pt = (texts[0], texts[0]) if len(texts) == 1 else (texts[0], texts[1])
        assert mig.sql(SchemaTier.TIMESCALE) == ts
        assert mig.sql(SchemaTier.PARTITIONED) == pt
        assert mig.checksum == hashlib.sha256((ts + pt).encode()).hexdigest()


def test_no_python_module_feeds_a_migration() -> None:
    # The frozen 0002 histogram module is gone: its SQL is written out in 0002's files.
    assert importlib.util.find_spec("lib_analytics_core.read.histogram_v1") is None
    source = Path(m.__file__).read_text(encoding="utf-8")
    assert "histogram" not in source


async def test_fresh_partitioned_schema_is_current_partitioned_sql(
    empty_database_url: str,
) -> None:
    conn = await asyncpg.connect(empty_database_url)
    try:
        await migrate(conn, tier="partitioned")
        got = await dump_schema(conn, "partitioned")
    finally:
        await conn.close()
    want = CURRENT_FILES["partitioned"].read_text(encoding="utf-8")
    assert got == want, "regenerate: .venv/bin/python -m tests._schema_catalog partitioned"


@pytest.mark.timescale
async def test_fresh_timescale_schema_is_current_timescale_sql(timescale_url: str) -> None:
    conn = await asyncpg.connect(timescale_url, statement_cache_size=0)
    try:
        await conn.execute("SET search_path = public")
        await migrate(conn, tier="timescale")
        got = await dump_schema(conn, "timescale")
    finally:
        await conn.close()
    want = CURRENT_FILES["timescale"].read_text(encoding="utf-8")
    assert got == want, "regenerate: .venv/bin/python -m tests._schema_catalog timescale"
