"""Cheap classification of SQL text for ``DatabaseQuery`` events.

This runs once per query in the application's thread, so it looks at no more than the
first few hundred characters and uses two pre-compiled regular expressions; it does
not parse SQL. ``query_type`` is the statement's first keyword (comments and opening
parentheses skipped) mapped to ``select``/``insert``/``update``/``delete``, else
``other``; a ``WITH`` query takes the type of the statement after its last CTE.
"""

from __future__ import annotations

import re

__all__ = ["classify", "mentions"]

_HEAD = 512
_LEADING = re.compile(r"(?:\s+|--[^\n]*\n?|/\*.*?\*/|\()*", re.DOTALL)
_KEYWORD = re.compile(r"[A-Za-z]+")
_AFTER_CTE = re.compile(r"\)\s*(select|insert|update|delete)\b", re.IGNORECASE)
_TABLE = re.compile(
    r"\b(?:from|into|update|join)\s+((?:\"[^\"]+\"|[A-Za-z_][\w$]*)(?:\.(?:\"[^\"]+\"|[A-Za-z_][\w$]*))?)",
    re.IGNORECASE,
)
_KINDS = frozenset(("select", "insert", "update", "delete"))


def classify(sql: str) -> tuple[str, str | None]:
    """``(query_type, table)`` for a SQL statement; table is best-effort or None."""
    head = sql[:_HEAD]
    start = _LEADING.match(head)
    pos = start.end() if start else 0
    word = _KEYWORD.match(head, pos)
    keyword = word.group(0).lower() if word else ""
    if keyword == "with":
        found = _AFTER_CTE.findall(head)
        keyword = found[-1].lower() if found else "other"
    kind = keyword if keyword in _KINDS else "other"
    table_match = _TABLE.search(head, pos)
    table = table_match.group(1).replace('"', "")[:200] if table_match else None
    return kind, table


def mentions(sql: str, names: tuple[str, ...]) -> bool:
    """True when the statement's head names one of ``names`` (our own tables)."""
    head = sql[:_HEAD]
    return any(name in head for name in names)
