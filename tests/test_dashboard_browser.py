"""The dashboard draws exactly what the API returns (Debian's chromium driven by Playwright).

Starts uvicorn on a loopback port over a database filled by the simulator and opens the
page with ``?token=``. For each preset (1, 7, 30, 90 days) and with a service filter it
reads every chart's data from ECharts (``getOption()``), fetches the very URL the page
fetched for that panel, and compares them point by point: every bucket of the window
present (zeros filled, so stacked bars sit on the right base), the same values, the
window from :func:`lib_analytics_core.read.window.last_days`. Each KPI card is read
against its API value. The view lives in the URL: a shared link opens the same view and
Back returns to the previous one. Screenshots go to ``artifacts/``.

And the page as people see it (issue 20): no two texts of a chart overlap and none is
cut off (legends, axis names and units, axis labels: ECharts' own text elements, by their
bounding boxes and clip rectangles); buckets that have not begun are not drawn (no
"0 errors" for hours that have not happened); in the 1-day view the daily panels show
today's partial value as one labelled category, not one dot at midnight on a 24 h axis;
while data is on the way every panel and card says so (``aria-busy`` and a visible
"Loading"); the DAU card names the day it shows by the one definition (the last whole UTC
day in the range; today so far only when the range holds only today); no percentile drawn
lies above its bucket's ``max_ms``.

Mismatches are collected per view and reported together, so a failure lists everything
that is wrong. Needs ``apt-get install chromium`` (CI installs it).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import math
import os
import re
import shutil
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import pytest

from lib_analytics_core import Event, refresh_aggregates
from lib_analytics_core.api import create_app
from lib_analytics_core.demo.simulate import SimulationConfig, simulate
from lib_analytics_core.read.window import Window, last_days
from tests import _read_seed
from tests._serve import serve_in_thread

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
TOKEN = "browser-test-token-0123456789"
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
NONE = "\u2013"  # the en dash the page shows for "no value"
TIME_CHARTS = ("chart-users", "chart-tasks", "chart-auth", "chart-cocoons", "chart-requests")
CHARTS = (*TIME_CHARTS, "chart-latency", "chart-errors", "chart-integrations", "chart-events")
#: The panel and card elements that must say "loading" while their data is on the way.
LOADING = (
    *(f"#{c}" for c in CHARTS),
    "#top-errors",
    "#top-endpoints",
    *(f"#kpi-{k}" for k in ("dau", "wau", "mau", "requests", "p95", "errors", "tasks")),
)


#: Requests without a range (a picker's list).
_UNRANGED = ("/v1/events/types",)
#: The panels a service filter applies to (the other questions have no service).
_FILTERED = (
    "/v1/overview",
    "/v1/api-latency",
    "/v1/errors",
    "/v1/errors/top",
    "/v1/endpoints/top",
    "/v1/events/trends",
)


class InvoicePaid(Event):
    """A service's own event class, unknown to the library: the event-trends panel and its
    picker must show it without any code change."""

    event_type: ClassVar[str] = "invoice_paid_browser"
    amount_cents: int
    user_id: uuid.UUID | None = None


@pytest.fixture
def served(database_url: str) -> Iterator[str]:
    async def seed() -> None:
        result = await simulate(database_url, SimulationConfig(days=20, users=120, seed=7))
        custom = _read_seed.Seeded(d0=last_days(3).start)
        for i in range(40):
            when = custom.d0 + dt.timedelta(minutes=97 * i)
            if when < dt.datetime.now(dt.UTC):
                custom.add(
                    when, InvoicePaid(amount_cents=100 + i, user_id=uuid.UUID(int=i % 7 + 1))
                )
        for i in range(20):  # a week earlier: the explore view's previous period
            when = custom.d0 - 7 * DAY + dt.timedelta(minutes=97 * i)
            custom.add(when, InvoicePaid(amount_cents=200 + i, user_id=uuid.UUID(int=i % 7 + 1)))
        await _read_seed.write(database_url, custom, service="billing")
        conn = await asyncpg.connect(database_url)
        try:
            await refresh_aggregates(conn, start=result.start)
        finally:
            await conn.close()

    asyncio.run(seed())
    with serve_in_thread(create_app(database_url, TOKEN)) as url:
        yield url


# ----------------------------------------------------------------- what the page drew

_CHART_JS = """(id) => {
    const c = window.dashboard.charts[id];
    if (!c) return null;
    const o = c.getOption();
    return {
        series: (o.series || []).map((s) => ({
            name: s.name, type: s.type, stack: s.stack || null, data: s.data || [],
            xAxisIndex: s.xAxisIndex || 0, showSymbol: s.showSymbol !== false,
        })),
        xAxis: (o.xAxis || []).map((a) => ({ type: a.type, data: a.data || null })),
        yAxis: (o.yAxis || []).map((a) => ({ type: a.type, data: a.data || null })),
    };
}"""


#: Every text ECharts painted in a chart: its box in chart pixels (from the text element,
#: not the glyph run, so the box is the line the text occupies) and whether a clip
#: rectangle (a scrolling legend's) cuts it.
_TEXTS_JS = r"""(id) => {
    const c = window.dashboard.charts[id];
    if (!c) return null;
    const out = [];
    for (const span of c.getZr().storage.getDisplayList(true)) {
        if (span.type !== 'tspan' || span.invisible || span.ignore) continue;
        if (span.style.opacity === 0 || span.style.text === '') continue;
        const el = span.parent && span.parent.type === 'text' ? span.parent : span;
        if (el.invisible || el.ignore) continue;
        const r = el.getBoundingRect().clone();
        const m = el.getComputedTransform();
        if (m) r.applyTransform(m);
        let cut = false;
        for (const clip of span.__clipPaths || []) {
            const b = clip.getBoundingRect().clone();
            const cm = clip.getComputedTransform();
            if (cm) b.applyTransform(cm);
            if (r.x < b.x - 1 || r.y < b.y - 1 || r.x + r.width > b.x + b.width + 1
                || r.y + r.height > b.y + b.height + 1) cut = true;
        }
        // (Clips are compared with the glyph run.) A line of text is its font size tall.
        const px = Number((/(\d+(?:\.\d+)?)px/.exec(span.style.font || '') || [0, 12])[1]);
        if (r.height < px) { r.y -= (px - r.height) / 2; r.height = px; }
        out.push({ text: String(span.style.text), x: r.x, y: r.y, w: r.width, h: r.height, cut });
    }
    return { width: c.getWidth(), height: c.getHeight(), texts: out };
}"""


def texts(page: Any, chart_id: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = page.evaluate(_TEXTS_JS, chart_id)
    return found


def overlap(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Two text boxes share more than a pixel in both directions."""
    dx: float = min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"])
    dy: float = min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"])
    return dx > 1 and dy > 1


#: The requests of the panels (held back to see the loading state).
PANEL_DATA = re.compile(r"/v1/(?!window|services|health)[a-z/-]+(\?|$)")
#: Is the panel or card holding ``selector`` marked busy and showing a visible "Loading"?
_LOADING_JS = """(selector) => {
    const el = document.querySelector(selector);
    const box = el && el.closest('.card, .kpi');
    const shown = box && box.querySelector('.loading');
    const r = shown && shown.getBoundingClientRect();
    return {
        busy: box ? box.getAttribute('aria-busy') : null,
        text: shown ? shown.innerText : '',
        visible: Boolean(r && r.width > 0 && r.height > 0
            && getComputedStyle(shown).visibility !== 'hidden'),
    };
}"""


def chart(page: Any, chart_id: str) -> dict[str, Any]:
    option: dict[str, Any] | None = page.evaluate(_CHART_JS, chart_id)
    return option or {"series": [], "xAxis": [], "yAxis": []}


def ms(value: dt.datetime) -> int:
    return round(value.timestamp() * 1000)


def parse_time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def y_of(point: Any) -> Any:
    return point[1] if isinstance(point, list) else point


def xs(series: dict[str, Any]) -> list[Any]:
    return [p[0] if isinstance(p, list) else None for p in series["data"]]


def fmt_int(n: float) -> str:
    return f"{math.floor(n + 0.5):,}"


def fmt_ms(v: float) -> str:
    if v >= 1000:
        return f"{v / 1000:.{0 if v >= 10000 else 1}f} s"
    return f"{math.floor(v + 0.5)} ms" if v >= 10 else f"{v:.1f} ms"


def fmt_pct(v: float) -> str:
    return f"{v * 100:.1f}%"


class View:
    """One view of the page: its window, the /v1 requests it made, the problems found."""

    def __init__(  # noqa: PLR0917 - one view's facts
        self,
        page: Any,
        api: httpx.Client,
        urls: list[str],
        days: int,
        service: str,
        granularity: str = "auto",
        custom: Window | None = None,
        by: str = "p95",
        event_type: str | None = None,
    ):
        self.page, self.api, self.days, self.service = page, api, days, service
        self.by, self.event_type = by, event_type
        self.gran = granularity
        # The view may have been computed a moment before midnight UTC: accept either day.
        self.windows = (
            [custom]
            if custom is not None
            else [last_days(days), last_days(days, now=dt.datetime.now(dt.UTC) - HOUR)]
        )
        self.urls = [u for u in urls if urlsplit(u).path.startswith("/v1/")]
        self.problems: list[str] = []
        self.window = self.windows[0]
        #: When the page drew (ms): a bucket starting later has not begun and is not drawn.
        self.now = int(page.evaluate("() => window.dashboard.drawnAt || Date.now()"))

    def expect(self, ok: bool, message: str) -> bool:
        if not ok:
            self.problems.append(f"[{self.days}d {self.service or 'all'}] {message}")
        return ok

    def fetch(self, path: str, **match: str) -> tuple[dict[str, list[str]], Any] | None:
        """The API's answer to the request the page made for ``path`` with ``match``."""
        for url in self.urls:
            parts = urlsplit(url)
            params = parse_qs(parts.query)
            if parts.path == path and all(params.get(k, [None])[0] == v for k, v in match.items()):
                self.check_range(path, params)
                r = self.api.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
                self.expect(r.status_code == 200, f"{url}: {r.status_code}")
                body = r.json()
                if path == "/v1/overview" and params.get("compare") == ["true"]:
                    body = body["current"]  # the cards' values (their change: the next test)
                return params, body
        self.expect(False, f"the page made no request to {path} with {match}")
        return None

    def check_range(self, path: str, params: dict[str, list[str]]) -> None:
        if path in _UNRANGED:
            return
        got = (
            parse_time(params["start"][0]) if "start" in params else None,
            parse_time(params["end"][0]) if "end" in params else None,
        )
        if self.service and path in _FILTERED:
            self.expect(params.get("service") == [self.service], f"{path} not filtered")
        for window in self.windows:
            if got == (window.start, window.end):
                self.window = window
                return
        self.expect(False, f"{path} asked for {got}, not the last {self.days} days")

    def buckets(self, step: dt.timedelta) -> list[int]:
        n = (self.window.end - self.window.start) // step
        return [ms(self.window.start + i * step) for i in range(n)]

    def count(self, bucket: int, value: Any) -> Any:
        """What a count series draws at ``bucket``: the value (0 without a row) once the
        bucket has begun, nothing (a gap) for a bucket that has not begun yet."""
        return None if bucket > self.now else value

    def one_day(self) -> bool:
        return self.window.end - self.window.start == DAY

    def day_label(self) -> str:
        """The category the 1-day view's daily panels draw: the day, and "today so far"
        while it is today."""
        day = self.window.start.date().isoformat()
        today = dt.datetime.fromtimestamp(self.now / 1000, dt.UTC).date().isoformat()
        return f"{day} (today so far)" if day == today else day

    def layout(self, chart_id: str) -> None:
        """Every text of the chart inside it, uncut, and overlapping no other text."""
        found = texts(self.page, chart_id)
        if not self.expect(found is not None, f"{chart_id}: not drawn"):
            return
        assert found is not None
        width, height, items = found["width"], found["height"], found["texts"]
        for t in items:
            inside = t["x"] >= -1 and t["y"] >= -1
            inside = inside and t["x"] + t["w"] <= width + 1 and t["y"] + t["h"] <= height + 1
            self.expect(inside and not t["cut"], f"{chart_id}: {t['text']!r} is cut off ({t})")
        clashes = [
            (a["text"], b["text"]) for a, b in itertools.combinations(items, 2) if overlap(a, b)
        ]
        self.expect(not clashes, f"{chart_id}: texts drawn over each other: {clashes[:6]}")

    def visible(self, chart_id: str, option: dict[str, Any]) -> None:
        """A line with one point and no symbol draws nothing (the old empty 24 h chart)."""
        for s in option["series"]:
            points = [p for p in s["data"] if y_of(p) is not None]
            if s["type"] == "line" and not s["showSymbol"]:
                self.expect(len(points) != 1, f"{chart_id} '{s['name']}': one point, invisible")

    def series_equal(
        self,
        chart_id: str,
        option: dict[str, Any],
        name: str,
        expected: list[list[Any]],
        idx: int = 0,
    ) -> None:
        found = [s for s in option["series"] if s["name"] == name and s["xAxisIndex"] == idx]
        if not self.expect(len(found) == 1, f"{chart_id}: no single series '{name}' (axis {idx})"):
            return
        got = [[p[0], p[1]] if isinstance(p, list) else p for p in found[0]["data"]]
        if got != expected:
            gx = [p[0] if isinstance(p, list) else None for p in got]
            ex = [p[0] if isinstance(p, list) else None for p in expected]
            where = "x values differ (not dense / not the window)" if gx != ex else "values differ"
            diff = [(e, g) for e, g in zip(expected, got, strict=False) if e != g][:3]
            self.expect(
                False,
                f"{chart_id} '{name}': {where}: {len(got)} points vs {len(expected)} expected; "
                f"first x {gx[:1]} vs {ex[:1]}; first differences {diff}",
            )

    # ------------------------------------------------------------------ the panels

    def daily(self, chart_id: str, path: str, columns: dict[str, str]) -> list[dict[str, Any]]:
        got = self.fetch(path)
        if got is None:
            return []
        rows: list[dict[str, Any]] = got[1]["rows"]
        option = chart(self.page, chart_id)
        days = self.buckets(DAY)
        self.expect([ms(parse_time(r["day"])) for r in rows] == days, f"{path} is not dense")
        if self.one_day():
            # One day: one labelled category with today's partial value, not a dot at
            # midnight on a 24-hour time axis.
            axis = option["xAxis"][0] if option["xAxis"] else {}
            self.expect(
                axis.get("type") == "category" and axis.get("data") == [self.day_label()],
                f"{chart_id}: the 1-day view draws x axis {axis}, not [{self.day_label()!r}]",
            )
            for name, column in columns.items():
                self.series_equal(chart_id, option, name, [r[column] for r in rows])
        else:
            for name, column in columns.items():
                self.series_equal(
                    chart_id,
                    option,
                    name,
                    [
                        [b, self.count(b, r[column])]
                        for b, r in ((ms(parse_time(r["day"])), r) for r in rows)
                    ],
                )
        self.visible(chart_id, option)
        return rows

    def granularity(self) -> str:
        """The bucket size: the URL's, else hourly up to 14 days (the dashboard's rule)."""
        if self.gran != "auto":
            return self.gran
        return "hour" if self.days <= 14 else "day"

    def requests_and_latency(self) -> None:
        gran = self.granularity()
        step = HOUR if gran == "hour" else DAY
        buckets = self.buckets(step)
        got = self.fetch("/v1/api-latency", group_by="total", granularity=gran)
        if got is not None:
            by_bucket = {ms(parse_time(r["bucket"])): r for r in got[1]["rows"]}
            option = chart(self.page, "chart-requests")
            for name, col in (
                ("requests", "requests"),
                ("4xx", "errors_4xx"),
                ("5xx", "errors_5xx"),
            ):
                expected = [
                    [b, self.count(b, by_bucket[b][col] if b in by_bucket else 0)] for b in buckets
                ]
                self.series_equal("chart-requests", option, name, expected)
            self.visible("chart-requests", option)
        got = self.fetch("/v1/api-latency", group_by="service", granularity=gran)
        if got is not None:
            rows = got[1]["rows"]
            self.percentiles_observed("/v1/api-latency", rows)
            services = sorted({r["service"] for r in rows})
            if self.service:
                self.expect(services in ([], [self.service]), f"latency services {services}")
            option = chart(self.page, "chart-latency")
            for i, svc in enumerate(services):
                mine = {ms(parse_time(r["bucket"])): r for r in rows if r["service"] == svc}
                for p in ("p50", "p95", "p99"):
                    expected = [[b, mine[b][f"{p}_ms"] if b in mine else None] for b in buckets]
                    self.series_equal("chart-latency", option, p, expected, idx=i)
            self.expect(len(option["series"]) == 3 * len(services), "chart-latency: extra series")

    def overview(self, users: list[dict[str, Any]]) -> None:
        """Every KPI card is /v1/overview's answer; its DAU day follows the one definition
        and its DAU/WAU/MAU are the active-users row of that day."""
        got = self.fetch("/v1/overview")
        if got is None:
            return
        o = got[1]
        self.kpi("kpi-requests", fmt_int(o["requests"]))
        self.kpi("kpi-p95", fmt_ms(o["p95_ms"]) if o["p95_ms"] is not None else NONE)
        self.kpi("kpi-errors", fmt_pct(o["error_rate"]) if o["error_rate"] else NONE)
        rate = o["task_success_rate"]
        self.kpi("kpi-tasks", fmt_pct(rate) if rate is not None else NONE)
        for k in ("dau", "wau", "mau"):
            self.kpi(f"kpi-{k}", fmt_int(o[k]) if o[k] is not None else NONE)
        # The one definition (docs/api.md, the demo's summary): the last whole UTC day
        # inside the range; today so far only if the range holds only today.
        whole = [r for r in users if ms(parse_time(r["day"]) + DAY) <= self.now]
        latest = (whole or users)[-1:] if users else []
        if not latest:
            return
        day = latest[0]["day"][:10]
        self.expect(
            (o["dau_day"] or "")[:10] == day, f"overview dau_day {o['dau_day']}, expected {day}"
        )
        expected = f"last whole UTC day, {day}" if whole else f"today so far, {day}"
        expected += " · all services" if self.service else ""  # DAU has no service
        hint = self.page.inner_text("#kpi-dau .hint")
        self.expect(hint == expected, f"DAU KPI says {hint!r}, the definition says {expected!r}")
        for k in ("dau", "wau", "mau"):
            self.expect(o[k] == latest[0][k], f"overview {k} {o[k]} != active users {latest[0]}")

    def endpoints(self) -> None:
        """The slowest-endpoints table is /v1/endpoints/top's answer, row for row, in the
        order of the chosen ranking."""
        got = self.fetch("/v1/endpoints/top", by=self.by)
        if got is None:
            return
        rows = got[1]["rows"]
        self.percentiles_observed("/v1/endpoints/top", rows)
        key = {"p95": "p95_ms", "p99": "p99_ms", "error_rate": "error_rate"}.get(self.by, self.by)
        values = [r[key] if r[key] is not None else -1 for r in rows]
        self.expect(values == sorted(values, reverse=True), f"endpoints not by {self.by}")
        cells = self.page.eval_on_selector_all(
            "#top-endpoints tbody tr", "rs => rs.map(r => [...r.cells].map(c => c.textContent))"
        )
        expected = [
            [r["service"], r["method"], r["endpoint"], fmt_int(r["requests"]), fmt_ms(r["p95_ms"])]
            for r in rows
        ]
        got_cells = [[c[0], c[1], c[2], c[3], c[6]] for c in cells if len(c) == 9]
        self.expect(got_cells == expected, f"endpoint table {got_cells[:2]} vs {expected[:2]}")
        self.expect(self.page.input_value("#endpoints-by") == self.by, "the ranking select")

    def event_trends(self) -> None:
        """The picker lists every stored event type (the custom one included); the chart is
        /v1/events/trends' answer for the picked type, dense, stacked by service."""
        got = self.fetch("/v1/events/types")
        if got is None:
            return
        types = got[1]["event_types"]
        options = self.page.eval_on_selector_all("#event-type option", "os => os.map(o => o.value)")
        self.expect(options == types, f"picker {options} vs {types}")
        self.expect(InvoicePaid.event_type in types, f"the custom event type is missing: {types}")
        picked = self.page.input_value("#event-type")
        self.expect(picked == (self.event_type or types[0]), f"picked {picked!r}")
        got = self.fetch("/v1/events/trends", event_type=picked)
        if got is None:
            return
        rows = got[1]["rows"]
        self.expect(bool(rows) or picked != InvoicePaid.event_type, "no custom events drawn")
        step = HOUR if self.granularity() == "hour" else DAY
        option = chart(self.page, "chart-events")
        for svc in sorted({r["service"] for r in rows}):
            mine = {ms(parse_time(r["bucket"])): r["events"] for r in rows if r["service"] == svc}
            expected = [[b, self.count(b, mine.get(b, 0))] for b in self.buckets(step)]
            self.series_equal("chart-events", option, svc, expected)

    def percentiles_observed(self, path: str, rows: list[dict[str, Any]]) -> None:
        """p50 <= p95 <= p99 <= max_ms: an estimate never lies outside what was observed."""
        for r in rows:
            values = [r[k] for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms")]
            if None in values:
                continue
            self.expect(
                values == sorted(values),
                f"{path} {r.get('service')} {r.get('bucket')}: p50/p95/p99/max = {values}",
            )

    def error_rows(self) -> list[dict[str, Any]] | None:
        """The rows of every /v1/errors request of the view: the hourly aggregate serves 93
        days per request, so a longer window is asked for in pieces that must tile it."""
        spans = []
        for url in self.urls:
            parts = urlsplit(url)
            if parts.path == "/v1/errors":
                params = parse_qs(parts.query)
                if self.service:
                    self.expect(params.get("service") == [self.service], "/v1/errors not filtered")
                spans.append((parse_time(params["start"][0]), parse_time(params["end"][0]), url))
        if not self.expect(bool(spans), "the page made no request to /v1/errors"):
            return None
        spans.sort()
        tiled = all(a[1] == b[0] for a, b in itertools.pairwise(spans))
        self.expect(
            tiled and (spans[0][0], spans[-1][1]) == (self.window.start, self.window.end),
            f"/v1/errors pieces {[(a.isoformat(), b.isoformat()) for a, b, _ in spans]} "
            f"do not tile the window {self.window}",
        )
        rows: list[dict[str, Any]] = []
        for _, _, url in spans:
            r = self.api.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
            self.expect(r.status_code == 200, f"{url}: {r.status_code}")
            rows.extend(r.json()["rows"])
        return rows

    def errors(self) -> None:
        rows = self.error_rows()
        if rows is None:
            return
        hourly = self.granularity() == "hour"
        buckets = self.buckets(HOUR if hourly else DAY)
        option = chart(self.page, "chart-errors")
        totals: dict[str, int] = defaultdict(int)
        for r in rows:
            totals[r["error_type"]] += r["errors"]
        names = [s["name"] for s in option["series"]]
        shown = [n for n in names if n != "other"]
        rest = [t for t in totals if t not in shown]
        # the six most frequent types (any order among ties), the rest as "other"
        self.expect(set(shown) <= set(totals) and len(shown) == min(6, len(totals)), f"{names}")
        self.expect(
            not shown or not rest or min(totals[t] for t in shown) >= max(totals[t] for t in rest),
            f"chart-errors shows {shown}, not the most frequent of {dict(totals)}",
        )
        self.expect(("other" in names) == bool(rest), f"chart-errors 'other': {names}")
        grid: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        for r in rows:
            t = parse_time(r["hour"])
            b = t if hourly else t.replace(hour=0)
            grid[r["error_type"] if r["error_type"] in shown else "other"][ms(b)] += r["errors"]
        for name in names:
            self.series_equal(
                "chart-errors", option, name, [[b, self.count(b, grid[name][b])] for b in buckets]
            )
        self.expect(len({s["stack"] for s in option["series"]}) <= 1, "chart-errors: not one stack")

    def integrations(self) -> None:
        got = self.fetch("/v1/integrations", by_day="false")
        if got is None:
            return
        rows = {r["provider"]: r for r in got[1]["rows"]}
        option = chart(self.page, "chart-integrations")
        categories = option["yAxis"][0]["data"] if option["yAxis"] else []
        self.expect(sorted(categories or []) == sorted(rows), f"providers {categories}")
        for name, col in (("succeeded", "used_success"), ("failed", "used_failed")):
            expected = [rows[p][col] if p in rows else None for p in categories or []]
            self.series_equal("chart-integrations", option, name, expected)  # type: ignore[arg-type]

    def users(self) -> None:
        rows = self.daily(
            "chart-users", "/v1/active-users", {"MAU": "mau", "WAU": "wau", "DAU": "dau"}
        )
        self.overview(rows)

    def tasks(self) -> None:
        rows = self.daily(
            "chart-tasks",
            "/v1/tasks",
            {
                "completed": "completed",
                "failed": "failed",
                "cancelled": "cancelled",
                "success rate": "success_rate",
            },
        )
        completed = sum(r["completed"] for r in rows)
        failed = sum(r["failed"] for r in rows)
        got = self.fetch("/v1/overview")
        if got is not None and completed + failed:  # the card's rate is the chart's rows'
            rate = got[1]["task_success_rate"]
            self.expect(abs(rate - completed / (completed + failed)) < 1e-9, f"task rate {rate}")

    def top_errors(self) -> None:
        got = self.fetch("/v1/errors/top")
        if got is None:
            return
        cells = self.page.eval_on_selector_all(
            "#top-errors tbody tr", "rs => rs.map(r => [...r.cells].map(c => c.textContent))"
        )
        expected = [[r["service"], r["error_type"], fmt_int(r["errors"])] for r in got[1]["rows"]]
        self.expect([c[:3] for c in cells if len(c) >= 3] == expected, "top errors table differs")

    def kpi(self, kpi_id: str, expected: str) -> None:
        value = self.page.inner_text(f"#{kpi_id} .value")
        self.expect(value == expected, f"{kpi_id} shows {value!r}, the API says {expected!r}")

    def check(self) -> list[str]:
        self.users()
        self.requests_and_latency()
        self.errors()
        self.tasks()
        self.integrations()
        self.daily(
            "chart-auth",
            "/v1/auth",
            {
                "login ok": "login_success",
                "login failed": "login_failed",
                "token refreshes": "token_refreshes",
            },
        )
        self.daily(
            "chart-cocoons",
            "/v1/cocoons",
            {"connected": "connected", "registered": "registered", "claimed": "claimed"},
        )
        self.top_errors()
        self.endpoints()
        self.event_trends()
        self.expect(self.page.evaluate("() => window.dashboard.errors") == [], "panel errors")
        for chart_id in TIME_CHARTS:
            self.expect(
                self.page.locator(f"#{chart_id} canvas").count() >= 1, f"{chart_id}: no canvas"
            )
        for chart_id in CHARTS:
            self.layout(chart_id)
        self.expect(self.page.locator("[aria-busy=true]").count() == 0, "still marked as loading")
        return self.problems


def url_state(page: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def require_chromium() -> None:
    """CI must run this test; a machine without chromium gets a loud skip naming it."""
    if shutil.which("chromium") is None and not Path(CHROMIUM).exists():
        message = "chromium is not installed: apt-get install -y chromium"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(f"dashboard browser test NOT RUN: {message}")


def first_load_with_data_held(page: Any, served: str) -> list[str]:
    """The first load with every panel's data held back: each panel and card says it is
    loading (not a blank chart and a dash); then the data goes through and is drawn."""
    problems = []
    held: list[Any] = []
    holding = [True]

    def hold(route: Any) -> None:
        if holding[0]:
            held.append(route)
        else:
            route.continue_()

    page.route(PANEL_DATA, hold)
    page.goto(f"{served}/?token={TOKEN}")
    page.wait_for_function("() => window.dashboard !== undefined")
    deadline = time.monotonic() + 30
    while not held:  # the page asks for every panel in one tick: wait for the first
        if time.monotonic() > deadline:
            return ["first load: the page asked for no panel data"]
        page.wait_for_timeout(20)
    for selector in LOADING:
        shown = page.evaluate(_LOADING_JS, selector)
        if not (shown["busy"] == "true" and shown["visible"] and "Loading" in shown["text"]):
            problems.append(f"while loading, {selector} shows no loading state: {shown}")
    holding[0] = False
    for route in held:
        route.continue_()
    try:
        page.wait_for_function("() => window.dashboard.loads > 0", timeout=30_000)
    except Exception:  # recorded, the rest still runs
        problems.append("first load: the page did not draw")
    return problems


def test_dashboard_draws_what_the_api_returns(served: str) -> None:  # noqa: PLR0912
    require_chromium()
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    problems: list[str] = []
    with sync_playwright() as p, httpx.Client(base_url=served, timeout=30) as api:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-extensions",
                "--no-first-run",
            ],
        )
        try:
            # bypass_csp: Playwright's own evaluate() needs eval, which the page's CSP forbids.
            context = browser.new_context(viewport={"width": 1440, "height": 900}, bypass_csp=True)
            page = context.new_page()
            errors: list[str] = []
            outside: list[str] = []
            urls: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: urls.append(r.url))
            page.on(
                "request",
                lambda r: (
                    None
                    if r.url.startswith(served) or r.url.startswith("data:")
                    else outside.append(r.url)
                ),
            )

            def settle(action: Any, label: str) -> bool:
                before = page.evaluate("() => (window.dashboard && window.dashboard.loads) || 0")
                urls.clear()
                action()
                try:
                    page.wait_for_function(
                        f"() => window.dashboard && window.dashboard.loads > {before}",
                        timeout=30_000,
                    )
                except Exception:  # recorded as a problem, the rest still runs
                    problems.append(f"{label}: the page did not redraw")
                    return False
                return True

            def view(  # noqa: PLR0917 - one view's facts
                days: int,
                service: str,
                shot: str,
                granularity: str = "auto",
                custom: Window | None = None,
                by: str = "p95",
                event_type: str | None = None,
            ) -> None:
                problems.extend(
                    View(
                        page, api, list(urls), days, service, granularity, custom, by, event_type
                    ).check()
                )
                state = url_state(page)
                active = page.eval_on_selector_all(
                    ".presets button.active", "bs => bs.map(b => b.dataset.days)"
                )
                if active != ([] if custom else [str(days)]):
                    problems.append(f"[{days}d {service or 'all'}] preset buttons show {active}")
                dates = (
                    {
                        "start": [custom.start.date().isoformat()],
                        "end": [(custom.end - DAY).date().isoformat()],
                    }
                    if custom
                    else {"days": [str(days)]}
                )
                if (
                    any(state.get(k) != v for k, v in dates.items())
                    or state.get("service", [""]) != [service]
                    or state.get("granularity", ["auto"]) != [granularity]
                ):
                    problems.append(f"[{days}d {service or 'all'}] URL {page.url} lacks the view")
                page.wait_for_timeout(800)  # let the animations finish before the picture
                page.screenshot(path=str(ARTIFACTS / f"dashboard-{shot}.png"), full_page=True)

            urls.clear()
            problems.extend(first_load_with_data_held(page, served))
            assert "token=" not in page.url  # removed from the address bar
            assert page.eval_on_selector_all("#service option", "os => os.map(o => o.value)") == [
                "",
                "auth",
                "integrations",
                "platform",
                "signaling",
            ]
            view(30, "", "30d")
            for days in (1, 7, 90):
                if settle(
                    lambda d=days: page.click(f".presets button[data-days='{d}']"), f"{days}d"
                ):
                    view(days, "", f"{days}d")
            if settle(lambda: page.select_option("#service", "auth"), "service filter"):
                view(90, "auth", "90d-auth")
            # Back: the unfiltered 90 days, then the 7 days, each redrawn from the URL
            if settle(page.go_back, "back to 90d"):
                view(90, "", "back-90d")
                if page.input_value("#service") != "":
                    problems.append("after Back the service select still shows a service")
            if settle(page.go_back, "back to 7d"):
                view(7, "", "back-7d")
            # custom dates (inclusive, whole UTC days), then daily buckets for them
            today = last_days(1).start
            custom = Window(start=today - 4 * DAY, end=today - DAY, days=3)
            page.fill("#start", custom.start.date().isoformat())
            page.fill("#end", (custom.end - DAY).date().isoformat())
            if settle(lambda: page.click("#apply"), "custom dates"):
                view(3, "", "custom", custom=custom)
            if settle(lambda: page.select_option("#granularity", "day"), "daily buckets"):
                view(3, "", "custom-daily", "day", custom)
            # longer than the hourly aggregates serve per request (errors come in pieces)
            long = Window(start=today - 99 * DAY, end=today + DAY, days=100)
            page.fill("#start", long.start.date().isoformat())
            page.fill("#end", (long.end - DAY).date().isoformat())
            if settle(lambda: page.click("#apply"), "100 custom days"):
                view(100, "", "custom-100d", "day", long)
            # a shared link opens the same view in a fresh tab
            page2 = context.new_page()
            page2.on("request", lambda r: urls.append(r.url))
            page = page2
            link = f"{served}/?days=7&granularity=day&service=auth&token={TOKEN}"
            if settle(lambda: page.goto(link), "link"):
                view(7, "auth", "7d-auth-link", "day")
                if page.input_value("#service") != "auth":
                    problems.append("the shared link did not select the service")
            # the endpoint ranking and the event-type picker (a custom event class)
            page3 = context.new_page()
            page3.on("request", lambda r: urls.append(r.url))
            page = page3
            if settle(lambda: page.goto(f"{served}/?days=7&token={TOKEN}"), "7d again"):
                for by in ("error_rate", "requests"):
                    if settle(lambda b=by: page.select_option("#endpoints-by", b), by):
                        view(7, "", f"7d-by-{by}", by=by)
                if settle(
                    lambda: page.select_option("#event-type", InvoicePaid.event_type), "pick"
                ):
                    view(7, "", "7d-custom-event", by="requests", event_type=InvoicePaid.event_type)
                    if "event_type=" + InvoicePaid.event_type not in page.url:
                        problems.append(f"the picked event type is not in the URL {page.url}")
            assert errors == [] and outside == []
        finally:
            browser.close()
    assert problems == [], "\n".join(problems)
