"""Named SQL of the read layer: ``sql/queries.sql``, loaded once (procrastinate's layout).

A DBA reads the fixed statements in one file; Python refers to them by name
(``QUERIES["active_users"]``). Relation names in the file are ``{CONSTANT}``
placeholders filled from :mod:`lib_analytics_core.schema.facts`, so a table is named in
one place only; a placeholder that facts does not define fails at import, not at query
time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from importlib.resources import files
from types import MappingProxyType
from typing import Final

from ..schema import facts

__all__ = ["QUERIES", "RELATIONS", "parse"]

#: Every relation name a read statement may use, by its placeholder.
RELATIONS: Final[Mapping[str, str]] = MappingProxyType(
    {
        **{
            name: value
            for name, value in vars(facts).items()
            if name.isupper() and isinstance(value, str) and value.startswith("analytics_")
        },
        **{
            f"API_{w.upper()}_{g.upper()}": facts.api_rollup(w, g)
            for w in facts.API_WIDTHS
            for g in facts.API_LEVELS
        },
        **{f"API_RUNNING_{g.upper()}": facts.api_running(g) for g in facts.API_LEVELS},
    }
)

_HEADER = re.compile(r"^-- ([a-z_][a-z0-9_]*) --$", re.MULTILINE)


def parse(text: str, relations: Mapping[str, str] = RELATIONS) -> dict[str, str]:
    """The statements of a ``queries.sql`` text by name, placeholders filled in."""
    out: dict[str, str] = {}
    heads = list(_HEADER.finditer(text))
    for i, head in enumerate(heads):
        body = text[head.end() : heads[i + 1].start() if i + 1 < len(heads) else len(text)]
        sql = "\n".join(
            line for line in body.strip().splitlines() if not line.startswith("--")
        ).strip()
        out[head.group(1)] = sql.rstrip(";").format_map(relations)
    return out


QUERIES: Final[Mapping[str, str]] = MappingProxyType(
    parse((files(__package__) / "sql" / "queries.sql").read_text("utf-8"))
)
