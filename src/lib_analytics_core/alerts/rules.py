"""The alerting file: webhooks, SLOs and threshold rules in one TOML file (stdlib tomllib).

The format (``docs/alerts.md`` has the full reference)::

    dashboard_url = "https://analytics.example.com"   # optional: links in notifications

    [[webhook]]
    name = "ops"
    url = "http://127.0.0.1:9000/hook"      # or url_env = "OPS_WEBHOOK_URL"

    [[slo]]
    name = "platform-availability"
    service = "platform"                    # optional, as endpoint and method
    kind = "availability"                   # good = status_code < 500
    objective = 0.995
    window = "30d"                          # default
    notify = ["ops"]

    [[threshold]]
    name = "task-failures"
    event_type = "task_failed"
    measure = "count"                       # distinct_users, error_rate, p95 + field, ...
    above = 100                             # or below
    over = "1h"
    notify = ["ops"]

Why so strict: an alerting file is read by a process nobody watches until it should
have paged. A misspelt key (``treshold_ms``) silently ignored is a rule that never
fires, so every unknown key, bad value or dangling webhook name is an
:class:`AlertConfigError` naming the file's line, raised before anything is evaluated.
The parsed file is frozen dataclasses: an evaluation cannot change its own rules.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from .._errors import QueryError
from ..read.explore import parse_measure
from ..read.filters import Filter, parse_filter
from ._toml import AlertConfigError, Lines, Table, parse_duration

__all__ = [
    "DEFAULT_SLO_WINDOW",
    "MEASURES",
    "AlertConfig",
    "AlertConfigError",
    "Severity",
    "Slo",
    "Threshold",
    "Webhook",
    "load_config",
    "parse_config",
    "parse_duration",
    "percentile",
]

Severity = Literal["page", "ticket"]
#: An SLO's window when the file does not say (the workbook's examples use 30 days).
DEFAULT_SLO_WINDOW: Final = _dt.timedelta(days=30)
#: Threshold measures: explore's (``count``, ``sum``/``avg``/``min``/``max``/``p50``/
#: ``p95``/``p99`` of a field) plus ``distinct_users``, ``error_rate`` and any other
#: percentile ``pNN`` of a field (:func:`percentile`).
MEASURES: Final = (
    "count",
    "distinct_users",
    "error_rate",
    "sum",
    "avg",
    "min",
    "max",
    "p50",
    "p95",
    "p99",
)
#: What ``error_rate`` counts as an error unless the rule says (``error_when``).
DEFAULT_ERROR_WHEN: Final = "status_code:gt:499"
_PERCENTILE = re.compile(r"^p([0-9]{1,2}(?:\.[0-9]{1,3})?)$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")


@dataclass(frozen=True, slots=True)
class Webhook:
    """Where notifications go. ``url`` may come from the environment (``url_env``) so a
    Slack webhook's secret is not in the file; it is never logged or stored."""

    name: str
    url: str
    timeout_s: float = 5.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Slo:
    """A service level objective over ``api_request`` events (module docstring).

    ``availability``: good = ``status_code < 500``; ``latency``: good =
    ``duration_ms <= threshold_ms``. ``objective`` is the good share to meet over
    ``window`` (attainment and error budget, ``GET /v1/slos``); alerts use the
    workbook's burn-rate windows (:mod:`.burn`), whatever ``window`` is."""

    name: str
    kind: Literal["availability", "latency"]
    objective: float
    window: _dt.timedelta = DEFAULT_SLO_WINDOW
    service: str | None = None
    endpoint: str | None = None
    method: str | None = None
    threshold_ms: int | None = None
    notify: tuple[str, ...] = ()
    line: int = 0

    def key(self) -> str:
        """Identity of the definition (what its per-minute counts depend on): a changed
        filter or threshold starts new counts instead of mixing old ones in."""
        what = {
            "kind": self.kind,
            "service": self.service,
            "endpoint": self.endpoint,
            "method": self.method,
            "threshold_ms": self.threshold_ms,
        }
        digest = hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]
        return f"{self.name}#{digest}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Threshold:
    """A rule on any event type: ``measure`` of its rows over the last ``over`` (and
    matching ``filters``) compared with ``above`` or ``below`` (strictly)."""

    name: str
    event_type: str
    measure: str
    field: str | None = None
    above: float | None = None
    below: float | None = None
    over: _dt.timedelta = _dt.timedelta(hours=1)
    filters: tuple[Filter, ...] = ()
    error_when: Filter | None = None
    severity: Severity = "page"
    notify: tuple[str, ...] = ()
    line: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertConfig:
    """One alerting file, parsed and checked."""

    webhooks: tuple[Webhook, ...] = ()
    slos: tuple[Slo, ...] = ()
    thresholds: tuple[Threshold, ...] = ()
    dashboard_url: str | None = None
    path: str = "<config>"

    def webhook(self, name: str) -> Webhook | None:
        return next((w for w in self.webhooks if w.name == name), None)


def percentile(measure: str) -> float | None:
    """The quantile of a ``pNN`` measure (``p90`` -> 0.9, ``p99.9`` -> 0.999), else None."""
    m = _PERCENTILE.match(measure)
    if m is None:
        return None
    q = float(m.group(1)) / 100
    return q if 0 < q < 1 else None


_TOP: Final = {"webhook", "slo", "threshold", "dashboard_url"}


def parse_config(
    text: str, *, path: str = "<config>", environ: Mapping[str, str] | None = None
) -> AlertConfig:
    """The alerting file ``text`` parsed and checked (module docstring), or
    :class:`AlertConfigError` with the line of the first mistake."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        m = re.search(r"line (\d+)", str(err))
        raise AlertConfigError(
            f"not valid TOML: {err}", path=path, line=int(m.group(1)) if m else None
        ) from None
    lines = Lines(text)
    for key in data:
        if key not in _TOP:
            raise AlertConfigError(
                f"unknown key {key!r} (allowed: {', '.join(sorted(_TOP))})",
                path=path,
                line=lines.of("", 0, key) or lines.of(key, 0),
            )
    env = os.environ if environ is None else environ
    webhooks = tuple(
        _webhook(Table(w, "webhook", i, lines, path), env)
        for i, w in enumerate(_array(data, "webhook", lines, path))
    )
    hook_names = {w.name for w in webhooks}
    slos = tuple(
        _slo(Table(s, "slo", i, lines, path), hook_names)
        for i, s in enumerate(_array(data, "slo", lines, path))
    )
    thresholds = tuple(
        _threshold(Table(t, "threshold", i, lines, path), hook_names)
        for i, t in enumerate(_array(data, "threshold", lines, path))
    )
    _unique(webhooks, "webhook", lines, path)
    _unique((*slos, *thresholds), "rule", lines, path)
    url = data.get("dashboard_url")
    if url is not None and not (isinstance(url, str) and re.match(r"^https?://", url)):
        raise AlertConfigError(
            "dashboard_url must be an http(s) URL", path=path, line=lines.of("", 0, "dashboard_url")
        )
    return AlertConfig(
        webhooks=webhooks, slos=slos, thresholds=thresholds, dashboard_url=url, path=path
    )


def load_config(path: str | os.PathLike[str]) -> AlertConfig:
    """:func:`parse_config` of the file at ``path``."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise AlertConfigError(f"cannot read the alerting file: {err}", path=str(p)) from None
    return parse_config(text, path=str(p))


def _array(data: dict[str, Any], key: str, lines: Lines, path: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise AlertConfigError(
            f"{key} must be written [[{key}]] (an array of tables)",
            path=path,
            line=lines.of("", 0, key) or lines.of(key, 0),
        )
    return value


def _unique(items: tuple[Any, ...], what: str, lines: Lines, path: str) -> None:
    seen: set[str] = set()
    for item in items:
        if item.name in seen:
            line = getattr(item, "line", None) or None
            raise AlertConfigError(f"two {what}s are named {item.name!r}", path=path, line=line)
        seen.add(item.name)


def _webhook(t: Table, env: Mapping[str, str]) -> Webhook:
    t.only({"name", "url", "url_env", "timeout_s"})
    name = t.text("name", required=True, pattern=_NAME)
    url = t.text("url")
    var = t.text("url_env")
    if (url is None) == (var is None):
        raise t.error("[[webhook]] needs exactly one of 'url' and 'url_env'")
    if var is not None:
        url = env.get(var)
        if not url:
            raise t.error(f"url_env: the environment variable {var} is not set", "url_env")
    assert url is not None
    if not re.match(r"^https?://[^\s]+$", url):
        raise t.error("url must be an http:// or https:// URL", "url" if var is None else "url_env")
    timeout = t.number("timeout_s")
    if timeout is not None and not 0 < timeout <= 60:
        raise t.error("timeout_s must be between 0 and 60 seconds", "timeout_s")
    return Webhook(name=name or "", url=url, timeout_s=timeout or 5.0)


def _slo(t: Table, hooks: set[str]) -> Slo:
    t.only(
        {
            "name",
            "kind",
            "objective",
            "window",
            "service",
            "endpoint",
            "method",
            "threshold_ms",
            "notify",
        }
    )
    name = t.text("name", required=True, pattern=_NAME) or ""
    kind = t.text("kind", required=True)
    if kind not in ("availability", "latency"):
        raise t.error(f"kind must be 'availability' or 'latency', not {kind!r}", "kind")
    objective = t.number("objective")
    if objective is None or not 0 < objective < 1:
        raise t.error("objective must be a number strictly between 0 and 1 (0.995)", "objective")
    threshold = t.number("threshold_ms")
    if kind == "latency":
        if threshold is None or threshold < 0 or threshold != int(threshold):
            raise t.error("a latency SLO needs threshold_ms, a whole number >= 0", "threshold_ms")
    elif threshold is not None:
        raise t.error("threshold_ms applies to latency SLOs only", "threshold_ms")
    window = t.duration("window", DEFAULT_SLO_WINDOW)
    if not _dt.timedelta(days=1) <= window <= _dt.timedelta(days=90):
        raise t.error("window must be between 1d and 90d (raw events are kept 90 days)", "window")
    return Slo(
        name=name,
        kind=kind,  # type: ignore[arg-type]
        objective=objective,
        window=window,
        service=t.text("service"),
        endpoint=t.text("endpoint"),
        method=t.text("method"),
        threshold_ms=None if threshold is None else int(threshold),
        notify=t.names("notify", hooks),
        line=t.lines.of("slo", t.index) or 0,
    )


def _threshold(t: Table, hooks: set[str]) -> Threshold:
    t.only(
        {
            "name",
            "event_type",
            "measure",
            "field",
            "above",
            "below",
            "over",
            "filters",
            "error_when",
            "severity",
            "notify",
        }
    )
    name = t.text("name", required=True, pattern=_NAME) or ""
    event_type = t.text("event_type", required=True) or ""
    measure = t.text("measure") or "count"
    kind, _, inline_field = measure.partition(":")
    fld = t.text("field") or inline_field or None
    if kind not in MEASURES and percentile(kind) is None:
        raise t.error(
            f"unknown measure {measure!r}: use one of {', '.join(MEASURES)}, or pNN (p90, p99.9)",
            "measure",
        )
    numeric = kind not in ("count", "distinct_users", "error_rate")
    if numeric != (fld is not None):
        raise t.error(
            f"measure {kind!r} "
            + (
                "needs a numeric field ('field = \"duration_ms\"')" if numeric else "takes no field"
            ),
            "field" if "field" in t.data else "measure",
        )
    if numeric:
        try:
            parse_measure(f"{'p50' if percentile(kind) else kind}:{fld}")
        except QueryError as err:
            raise t.error(str(err), "field") from None
    above, below = t.number("above"), t.number("below")
    if (above is None) == (below is None):
        raise t.error("[[threshold]] needs exactly one of 'above' and 'below'")
    filters = _filters(t, "filters")
    error_when: Filter | None = None
    if kind == "error_rate":
        (error_when,) = _filters(t, "error_when", default=DEFAULT_ERROR_WHEN)
    elif "error_when" in t.data:
        raise t.error("error_when applies to measure = 'error_rate' only", "error_when")
    severity = t.text("severity") or "page"
    if severity not in ("page", "ticket"):
        raise t.error(f"severity must be 'page' or 'ticket', not {severity!r}", "severity")
    over = t.duration("over", _dt.timedelta(hours=1))
    if over > _dt.timedelta(days=31):
        raise t.error("over must be at most 31d", "over")
    return Threshold(
        name=name,
        event_type=event_type,
        measure=kind,
        field=fld,
        above=above,
        below=below,
        over=over,
        filters=filters,
        error_when=error_when,
        severity=severity,  # type: ignore[arg-type]
        notify=t.names("notify", hooks),
        line=t.lines.of("threshold", t.index) or 0,
    )


def _filters(t: Table, key: str, default: str | None = None) -> tuple[Filter, ...]:
    value = t.data.get(key, default)
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
        raise t.error(f"{key} must be a list of 'field:op:value' strings", key)
    try:
        return tuple(parse_filter(v) for v in items)
    except QueryError as err:
        raise t.error(f"{key}: {err}", key) from None
