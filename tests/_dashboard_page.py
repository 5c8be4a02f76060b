"""The dashboard page under test (Playwright) and the page's own number formats, for the
browser tests of tests/test_dashboard_explore_browser.py: every check there compares what
the page shows with the API's answer to the very request the page made."""

from __future__ import annotations

import decimal
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.test_dashboard_browser import ARTIFACTS, CHROMIUM, NONE, TOKEN

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _half_up(x: float, places: str) -> decimal.Decimal:
    """JavaScript's toFixed: the exact binary value, ties away from zero."""
    return decimal.Decimal(x).quantize(decimal.Decimal(places), decimal.ROUND_HALF_UP)


def delta_text(cur: float | None, prev: float | None, rate: bool) -> str:
    """The change a KPI card shows (the page's fmtDelta): relative % for counts and
    latencies, percentage points for rates, a dash without a comparable previous value."""
    if cur is None or prev is None or (not rate and prev == 0):
        return NONE
    d = _half_up((cur - prev) * 100 if rate else (cur - prev) / prev * 100, "0.1")
    sign = "+" if d > 0 else ""
    return f"{sign}{d}{' pp' if rate else '%'}"


def fmt_value(v: Any) -> str:
    """A measure in a table (the page's fmtVal): integers grouped, others to 2 places."""
    if v is None:
        return NONE
    if isinstance(v, int) or float(v).is_integer():
        return f"{int(v):,}"
    text = f"{_half_up(float(v), '0.01'):,}"
    return text.rstrip("0").rstrip(".")


def group_cells(row: dict[str, Any]) -> list[str]:
    """A row's group-by values as the table shows them: "other" for the rest, a dash for
    a missing value."""
    return [
        "other" if o else (g if g is not None else NONE)
        for g, o in zip(row["group"], row["other"], strict=True)
    ]


class Page:
    """The page under test and a problem list."""

    def __init__(self, page: Any, api: httpx.Client, base: str):
        self.page, self.api, self.base = page, api, base
        self.urls: list[str] = []
        self.problems: list[str] = []
        page.set_default_timeout(15_000)
        page.on("request", lambda r: self.urls.append(r.url))

    def expect(self, ok: bool, message: str) -> bool:
        if not ok:
            self.problems.append(message)
        return ok

    def counter(self, name: str) -> int:
        return int(self.page.evaluate(f"() => (window.dashboard && window.dashboard.{name}) || 0"))

    def settle(self, action: Callable[[], Any], label: str, counter: str = "loads") -> bool:
        """Run ``action`` and wait until the page drew again (its ``counter`` moved)."""
        before = self.counter(counter)
        self.urls.clear()
        action()
        try:
            self.page.wait_for_function(
                f"() => window.dashboard && window.dashboard.{counter} > {before}",
                timeout=30_000,
            )
        except Exception:  # recorded, the rest still runs
            self.problems.append(f"{label}: the page did not draw ({counter})")
            return False
        return True

    def request(self, path: str, **match: str) -> str | None:
        """The URL of the page's last request to ``path`` whose parameters include ``match``."""
        for url in reversed(self.urls):
            parts = urlsplit(url)
            params = parse_qs(parts.query)
            if parts.path == path and all(params.get(k) == [v] for k, v in match.items()):
                return url
        self.problems.append(f"the page made no request to {path} with {match}: {self.urls}")
        return None

    def get(self, url: str) -> Any:
        r = self.api.get(url, headers=AUTH)
        self.expect(r.status_code == 200, f"{url}: {r.status_code} {r.text[:200]}")
        return r.json() if r.status_code == 200 else None

    def texts(self, selector: str) -> list[list[str]]:
        rows: list[list[str]] = self.page.eval_on_selector_all(
            selector, "rs => rs.map(r => [...r.cells].map(c => c.textContent.trim()))"
        )
        return rows

    def series(self, chart_id: str) -> dict[str, list[Any]]:
        got: dict[str, list[Any]] = self.page.evaluate(
            """(id) => {
                const c = window.dashboard.charts[id];
                if (!c) return {};
                const out = {};
                for (const s of c.getOption().series || []) out[s.name] = s.data;
                return out;
            }""",
            chart_id,
        )
        return got

    def download(self, selector: str, label: str) -> str | None:
        """Click an export button; the CSV file it saves."""
        try:
            with self.page.expect_download(timeout=30_000) as info:
                self.page.click(selector)
            path = info.value.path()
        except Exception as e:  # recorded, the rest still runs
            self.problems.append(f"{label}: no download from {selector}: {e}")
            return None
        with open(path, encoding="utf-8") as f:
            return f.read()

    def csv_matches(self, selector: str, json_url: str | None, label: str) -> None:
        """The file the button saves is the API's CSV of the very question on screen."""
        if json_url is None:
            return
        text = self.download(selector, label)
        if text is None:
            return
        parts = urlsplit(json_url)
        q = parse_qs(parts.query)
        q["format"] = ["csv"]
        r = self.api.get(parts.path, params=q, headers=AUTH)
        self.expect(r.status_code == 200, f"{label}: CSV {r.status_code}")
        self.expect(len(text.splitlines()) > 1, f"{label}: the CSV has no rows: {text[:200]!r}")
        self.expect(text == r.text, f"{label}: the CSV differs from the API's: {text[:300]!r}")

    def open(self, link: str, label: str) -> bool:
        """Load ``link`` afresh (the token as a first visit passes it) until it is drawn."""
        sep = "&" if "?" in link else "?"
        self.urls.clear()
        self.page.goto(f"{link}{sep}token={TOKEN}")
        try:
            self.page.wait_for_function(
                "() => window.dashboard && window.dashboard.loads > 0", timeout=30_000
            )
        except Exception:  # recorded, the rest still runs
            self.problems.append(f"{label}: the page did not draw")
            return False
        return True


def shot(t: Page, name: str) -> None:
    """A picture for people (artifacts/), after the charts' animation: not a condition."""
    ARTIFACTS.mkdir(exist_ok=True)
    t.page.wait_for_timeout(800)
    t.page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"), full_page=True)


def launch(p: Any) -> Any:
    return p.chromium.launch(
        executable_path=CHROMIUM,
        args=["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    )
