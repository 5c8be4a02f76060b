"""The Funnels view in the browser (issue 26, item 4), for
tests/test_dashboard_explore_browser.py: steps as bars and a table, a breakdown by a
field of the entering event (a bar and table rows per group), a step filter,
retention's cohort triangle per service, the view's state as a link a fresh page
reopens, and the CSV buttons saving the API's own CSV. Every number is compared with the
API's answer to the very request the page made."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests._dashboard_page import Page, _half_up, shot
from tests.test_dashboard_browser import NONE, fmt_int, fmt_pct

STEPS = "task_created,task_started,task_completed"
#: The step filter the test sets: completions that exited 0 (docs/api.md's example).
STEP_FILTER = "3:exit_code:eq:0"
#: The funnel's breakdown: a field of the entering event (the seed has one service).
BREAKDOWN = "command"


def fmt_secs(s: float | None) -> str:
    """A time between steps as the page shows it (funnels.js ``fmtSecs``)."""
    if s is None:
        return NONE
    if s < 60:
        return f"{_half_up(s, '0.1' if s < 10 else '1')} s"
    if s < 3600:
        return f"{_half_up(s / 60, '0.1')} min"
    if s < 86400:
        return f"{_half_up(s / 3600, '0.1')} h"
    return f"{_half_up(s / 86400, '0.1')} d"


def pct(v: float | None) -> str:
    return NONE if v is None else fmt_pct(v)


def group_name(g: dict[str, Any]) -> str:
    return "other" if g["other"] else (NONE if g["value"] is None else str(g["value"]))


def step_cells(steps: list[dict[str, Any]], lead: list[str]) -> list[list[str]]:
    """The rows of a funnel table: ``lead`` cells, the step, users, conversions, times."""
    return [
        [
            *lead,
            f"{i}. {s['event_type']}",
            fmt_int(s["users"]),
            pct(s["conversion_from_previous"]),
            pct(s["conversion_from_first"]),
            fmt_secs(s["median_seconds_from_previous"]),
            fmt_secs(s["p95_seconds_from_previous"]),
        ]
        for i, s in enumerate(steps, 1)
    ]


def cohort_cells(
    result: dict[str, Any], cohorts: list[dict[str, Any]], lead: list[str]
) -> list[list[str]]:
    """The rows of a cohort triangle: ``lead``, the cohort, its size, each period's share."""
    return [
        [
            *lead,
            c["period_start"][:10],
            fmt_int(c["size"]),
            *(
                (fmt_pct(c["returned"][k] / c["size"]) if c["size"] else NONE)
                if k < len(c["returned"])
                else ""
                for k in range(1, result["periods"] + 1)
            ),
        ]
        for c in cohorts
    ]


def check_funnels(t: Page) -> None:
    """Funnels view: the steps' users as bars, the table of conversions, and the
    retention cohorts as shares of each cohort, as /v1/funnel and /v1/retention say."""
    page = t.page
    if not t.settle(lambda: page.click("nav.views a[data-view=funnels]"), "funnels tab"):
        return
    url = t.request("/v1/funnel", steps=STEPS)
    funnel = t.get(url) if url else None
    if funnel:
        users = [s["users"] for s in funnel["steps"]]
        t.expect(users[0] > 0, f"the funnel's first step has no users: {funnel}")
        t.expect(t.series("chart-funnel").get("users") == users, f"funnel bars != {users}")
        cells = t.texts("#f-table tbody tr")
        want = step_cells(funnel["steps"], [])
        t.expect(cells == want, f"funnel table {cells} != {want}")
    url = t.request("/v1/retention", cohort_event="task_created")
    cohorts = t.get(url) if url else None
    if cohorts:
        cells = t.texts("#r-table tbody tr")
        want = cohort_cells(cohorts, cohorts["cohorts"], [])
        t.expect(bool(want) and cells == want, f"retention table {cells} != {want}")
    shot(t, "funnels")
    page.fill("#f-steps", "task_created,task_completed")
    if t.settle(lambda: page.click("#f-go"), "funnel steps"):
        t.expect("f_steps=task_created%2Ctask_completed" in page.url, f"steps not in {page.url}")
        t.expect(bool(t.request("/v1/funnel", steps="task_created,task_completed")), "2 steps")


def check_breakdown_drawn(t: Page) -> tuple[str | None, str | None]:
    """The funnel broken down by a field with the step filter, and retention by service,
    as the API answers the page's own requests; returns those requests' URLs."""
    furl = t.request("/v1/funnel", steps=STEPS, breakdown=BREAKDOWN, step_filter=STEP_FILTER)
    funnel = t.get(furl) if furl else None
    if funnel:
        groups = funnel["groups"] or []
        t.expect(len(groups) > 1 and funnel["steps"][2]["users"] > 0, f"groups: {funnel}")
        bars = t.series("chart-funnel")
        t.expect(bars.get("users") == [s["users"] for s in funnel["steps"]], f"bars {bars}")
        for g in groups:
            name = f"{BREAKDOWN}: {group_name(g)}"
            want_bars = [s["users"] for s in g["steps"]]
            t.expect(bars.get(name) == want_bars, f"{name} bars {bars.get(name)} != {want_bars}")
        cells = t.texts("#f-table tbody tr")
        want = step_cells(funnel["steps"], [])
        t.expect(cells == want, f"filtered funnel table {cells} != {want}")
        cells = t.texts("#f-groups tbody tr")
        want = [row for g in groups for row in step_cells(g["steps"], [group_name(g)])]
        t.expect(cells == want, f"funnel groups table {cells} != {want}")
        chips = t.page.eval_on_selector_all(
            "#f-filters li", "ls => ls.map(l => l.firstChild.textContent)"
        )
        t.expect(chips == ["step 3: exit_code = 0"], f"step filters shown: {chips}")
    rurl = t.request("/v1/retention", cohort_event="task_created", breakdown="service")
    cohorts = t.get(rurl) if rurl else None
    if cohorts:
        groups = cohorts["groups"] or []
        cells = t.texts("#r-groups tbody tr")
        want = [row for g in groups for row in cohort_cells(cohorts, g["cohorts"], [group_name(g)])]
        t.expect(bool(want) and cells == want, f"retention groups {cells} != {want}")
        shaded = t.page.eval_on_selector_all(
            "#r-groups td.retention[title]",
            "ts => ts.map(td => td.style.getPropertyValue('--share'))",
        )
        t.expect(bool(shaded) and all(0 <= float(x) <= 1 for x in shaded), f"shades {shaded}")
    return furl, rurl


def check_funnel_breakdown(t: Page) -> str | None:
    """Set three steps, a breakdown by a field, a step filter and retention by service;
    check what is drawn, the URL, and both CSV buttons. Returns the view's link."""
    page = t.page
    page.fill("#f-steps", STEPS)
    if not t.settle(lambda: page.click("#f-go"), "funnel, three steps"):
        return None
    if not t.settle(lambda: page.select_option("#f-break", BREAKDOWN), "funnel breakdown"):
        return None
    page.select_option("#f-ff-step", "3")
    page.fill("#f-ff-field", "exit_code")
    page.select_option("#f-ff-op", "eq")
    page.fill("#f-ff-value", "0")
    if not t.settle(lambda: page.click("#f-ff-add"), "step filter"):
        return None
    if not t.settle(lambda: page.select_option("#r-break", "service"), "retention breakdown"):
        return None
    state = parse_qs(urlsplit(page.url).query)
    want = {
        "f_steps": [STEPS],
        "f_break": [BREAKDOWN],
        "f_filter": [STEP_FILTER],
        "r_break": ["service"],
    }
    got = {k: state.get(k) for k in want}
    t.expect(got == want, f"the funnels state in the URL {got} != {want}")
    furl, rurl = check_breakdown_drawn(t)
    shot(t, "funnels-breakdown")
    t.csv_matches("#f-csv", furl, "funnel CSV")
    t.csv_matches("#r-csv", rurl, "retention CSV")
    link: str = page.url
    return link


def check_funnels_link(fresh: Page) -> None:
    """A fresh page opened on the funnels link shows the same controls and numbers."""
    page = fresh.page
    fresh.expect(
        page.input_value("#f-steps") == STEPS
        and page.input_value("#f-break") == BREAKDOWN
        and page.input_value("#r-break") == "service",
        "funnels link: the controls do not show the view",
    )
    check_breakdown_drawn(fresh)
