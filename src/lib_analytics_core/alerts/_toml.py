"""Reading the alerting file's tables with line numbers (what ``rules`` is built on).

tomllib reports a line only for syntax errors; a wrong *value* (an unknown key, a bad
duration, a dangling webhook name) must be reported with its line too, so
:class:`Lines` finds each table's and key's line by a scan of the text, and
:class:`Table` reads one ``[[section]]`` entry with typed getters whose errors carry it.
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import Any, Final

from .._errors import ConfigurationError

__all__ = ["AlertConfigError", "Lines", "Table", "parse_duration"]

_DURATION = re.compile(r"^([1-9][0-9]{0,6})(s|m|h|d|w)$")
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class AlertConfigError(ConfigurationError):
    """A mistake in the alerting file, with the line it is on (``None``: the whole file)."""

    def __init__(self, message: str, *, path: str = "<config>", line: int | None = None) -> None:
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {message}")
        self.line = line
        self.path = path


def parse_duration(text: object) -> _dt.timedelta:
    """``"5m"``, ``"1h"``, ``"30d"``, ``"90s"``, ``"2w"``: one positive integer and a unit."""
    if not isinstance(text, str) or not (m := _DURATION.match(text.strip())):
        raise ValueError(f"bad duration {text!r}: write a number and s, m, h, d or w ('30d')")
    return _dt.timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])


class Lines:
    """Line numbers of the file's tables and keys (tomllib reports them only for syntax
    errors): ``(section, index, key)`` -> line, found by a scan of the text."""

    _HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.-]+)\s*\]\]?")
    _KEY = re.compile(r"^\s*([A-Za-z0-9_-]+|\"[^\"]*\")\s*=")

    def __init__(self, text: str) -> None:
        self.keys: dict[tuple[str, int, str], int] = {}
        self.tables: dict[tuple[str, int], int] = {}
        counts: dict[str, int] = {}
        section, index = "", 0
        for n, raw in enumerate(text.splitlines(), start=1):
            if h := self._HEADER.match(raw):
                section = h.group(2)
                index = counts.get(section, 0)
                counts[section] = index + 1
                self.tables[(section, index)] = n
            elif k := self._KEY.match(raw):
                self.keys.setdefault((section, index, k.group(1).strip('"')), n)

    def of(self, section: str, index: int, key: str | None = None) -> int | None:
        if key is not None and (section, index, key) in self.keys:
            return self.keys[(section, index, key)]
        return self.tables.get((section, index))


class Table:
    """One ``[[section]]`` entry being read: typed getters that report with the line."""

    def __init__(self, data: object, section: str, index: int, lines: Lines, path: str) -> None:
        self.section, self.index, self.lines, self.path = section, index, lines, path
        if not isinstance(data, dict):
            raise self.error(f"[[{section}]] must be a table")
        self.data: dict[str, Any] = data

    def error(self, message: str, key: str | None = None) -> AlertConfigError:
        return AlertConfigError(
            message, path=self.path, line=self.lines.of(self.section, self.index, key)
        )

    def only(self, allowed: set[str]) -> None:
        for key in self.data:
            if key not in allowed:
                raise self.error(
                    f"unknown key {key!r} in [[{self.section}]] (allowed: "
                    f"{', '.join(sorted(allowed))})",
                    key,
                )

    def text(
        self, key: str, *, required: bool = False, pattern: re.Pattern[str] | None = None
    ) -> str | None:
        value = self.data.get(key)
        if value is None:
            if required:
                raise self.error(f"[[{self.section}]] needs {key!r}")
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.error(f"{key} must be a non-empty string, got {value!r}", key)
        if pattern is not None and not pattern.match(value):
            raise self.error(f"{key} {value!r} must match {pattern.pattern}", key)
        return value

    def number(self, key: str) -> float | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(f"{key} must be a number, got {value!r}", key)
        return float(value)

    def duration(self, key: str, default: _dt.timedelta) -> _dt.timedelta:
        if key not in self.data:
            return default
        try:
            return parse_duration(self.data[key])
        except ValueError as err:
            raise self.error(f"{key}: {err}", key) from None

    def names(self, key: str, webhooks: set[str]) -> tuple[str, ...]:
        value = self.data.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(f"{key} must be a list of webhook names", key)
        for name in value:
            if name not in webhooks:
                raise self.error(
                    f"{key}: unknown webhook {name!r} (declared: "
                    f"{', '.join(sorted(webhooks)) or 'none'})",
                    key,
                )
        return tuple(value)
